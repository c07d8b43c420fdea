"""What services raise for the views to turn into pages and API answers."""

from dataclasses import dataclass
from datetime import datetime
from typing import Any


class ServiceError(Exception):
    pass


class NotFound(ServiceError):
    pass


class Forbidden(ServiceError):
    pass


class ReasonNeeded(Forbidden):
    """The case is a restricted record: it opens once the user gives a reason (app/services/restricted.py)."""

    def __init__(self, case_id: int):
        super().__init__("This is a restricted record: give the reason you need it before opening it.")
        self.case_id = case_id


@dataclass
class TaskConflict(ServiceError):
    """The task was completed by someone else first."""

    completed_by: str | None
    completed_at: datetime | None

    def __str__(self) -> str:
        if self.completed_by and self.completed_at:
            return f"This task was completed by {self.completed_by} at {self.completed_at:%H:%M on %d %B %Y}."
        return "This task is no longer waiting for anyone."


@dataclass
class FormInvalid(ServiceError):
    errors: list[Any]


@dataclass
class NotSaved(ServiceError):
    """The change could not be kept; the message says why in plain words."""

    message: str

    def __str__(self) -> str:
        return self.message
