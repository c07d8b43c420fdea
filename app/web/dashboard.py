"""The managers' dashboard: every open case by flow and step, overdue clocks first, workload by team and worker."""

from flask import Blueprint

bp = Blueprint("dashboard", __name__, url_prefix="/dashboard")
