"""Pages of Multi Agency Triage."""

from flask import Blueprint

bp = Blueprint("mat", __name__, url_prefix="/mat")
