"""A case on its diagrams: each flow it went through, with its steps marked done, waiting, overdue or failed."""

from flask import Blueprint

bp = Blueprint("case_diagram", __name__, url_prefix="/cases")
