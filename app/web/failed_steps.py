"""Steps whose handler failed: listed with their error for a manager, who can run them again."""

from flask import Blueprint

bp = Blueprint("failed_steps", __name__, url_prefix="/failed-steps")
