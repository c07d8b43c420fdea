"""Command-line tasks for records imported from the council's main children's record system."""

from flask import Flask


def register(app: Flask) -> None:
    pass
