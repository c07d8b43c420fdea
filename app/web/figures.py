"""The steering-group figures (§4.11, §14) for a quarter or any range of dates: page, print view and CSV."""

from flask import Blueprint

bp = Blueprint("figures", __name__, url_prefix="/figures")
