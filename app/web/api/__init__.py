"""The JSON API for other systems (version 1), authenticated with bearer tokens.

Every request under /api is authenticated by its token alone: the session cookie of the web pages is never
read, so CSRF protection (which guards cookies) does not apply here. Every answer is JSON, errors included.
"""

from flask import Blueprint

from app.extensions import csrf

bp = Blueprint("api", __name__, url_prefix="/api")
csrf.exempt(bp)

# The modules below add their routes and handlers to `bp` as they are imported.
from app.web.api import auth, errors, notifications, routes  # noqa: E402

__all__ = ["auth", "bp", "errors", "notifications", "routes"]
