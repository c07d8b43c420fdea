"""Pages of LADO allegations."""

from flask import Blueprint

bp = Blueprint("lado", __name__, url_prefix="/lado")
