"""The front-door part of the Children in Need census: checked, shown to the manager, then downloaded."""

from flask import Blueprint

bp = Blueprint("census", __name__, url_prefix="/census")
