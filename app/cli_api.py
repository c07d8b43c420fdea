"""Command-line tasks for the JSON API: tokens."""

from flask import Flask


def register(app: Flask) -> None:
    pass
