"""The JSON API for other systems (version 1), authenticated with bearer tokens."""

from flask import Blueprint

bp = Blueprint("api", __name__, url_prefix="/api")
