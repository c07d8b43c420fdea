"""Pages of information requests."""

from flask import Blueprint

bp = Blueprint("information_requests", __name__, url_prefix="/information-requests")
