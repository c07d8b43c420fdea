"""Pages of domestic-abuse notifications."""

from flask import Blueprint

bp = Blueprint("domestic_abuse", __name__, url_prefix="/domestic-abuse")
