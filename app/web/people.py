"""Finding people already known to the front door."""

from flask import Blueprint

bp = Blueprint("people", __name__)
