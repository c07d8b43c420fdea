"""Forms described by JSON Schema: reading posts, validating them, and drawing them with GOV.UK Frontend.

A view typically does:

    submission = read_submission(schema, request.form, existing=task_data)
    if submission.complete:
        ...save submission.data and move on...
    return render_template(
        "task.html",
        fields=build_view(schema, submission.data, submission.errors),
        errors=submission.errors,
    )

and on GET renders `build_view(schema, task_data)` with no errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from flask import Flask
from jinja2 import BaseLoader, ChoiceLoader, FileSystemLoader, PackageLoader, PrefixLoader
from werkzeug.datastructures import MultiDict

from .check import check_form_schema
from .memo import PerSchema
from .submission import ACTION_FIELD, apply_action, parse_submission, posted_action
from .validate import FieldError, undeclared, validate
from .view import build_view

__all__ = [
    "ACTION_FIELD",
    "FieldError",
    "Submission",
    "apply_action",
    "build_view",
    "check_form_schema",
    "has_read_only",
    "parse_submission",
    "posted_action",
    "read_submission",
    "register",
    "undeclared",
    "validate",
]

_TEMPLATES = Path(__file__).resolve().parent.parent / "templates" / "schemaforms"


@dataclass
class Submission:
    data: dict
    errors: list[FieldError]
    action: str | None  # "add:…" or "remove:…" when the user pressed an add/remove button

    @property
    def complete(self) -> bool:
        """True when the user submitted (not add/remove) and the answers are valid."""
        return self.action is None and not self.errors


def read_submission(schema: dict, form: MultiDict, existing: dict | None = None, check: bool = True) -> Submission:
    """Parse a post; apply an add/remove action without validating, or else validate (unless `check` is False:
    the caller hands the answers to a service that checks them itself, and says what is wrong)."""
    action = posted_action(form)
    data = parse_submission(schema, form, existing)
    if action is not None:
        return Submission(apply_action(schema, data, action), [], action)
    return Submission(data, validate(schema, data) if check else [], None)


def has_read_only(schema: Any) -> bool:
    """Whether any question is read-only, so a post must be merged with the data the server holds."""
    return bool(_read_only_in(schema))


def _any_read_only(schema: Any) -> bool:
    if isinstance(schema, dict):
        return schema.get("readOnly") is True or any(_any_read_only(v) for v in schema.values())
    if isinstance(schema, list):
        return any(_any_read_only(v) for v in schema)
    return False


_read_only_in = PerSchema(_any_read_only)  # asked on every post of a form; the answer is the schema's own


def register(app: Flask) -> None:
    """Let the app's templates import "schemaforms/form_fields.html" and the govuk_frontend_jinja macros.

    The app's own loader stays first, so its templates still win.
    """
    if "schemaforms" in app.extensions:
        return
    loaders: list[BaseLoader] = [app.jinja_loader] if app.jinja_loader is not None else []
    loaders.append(
        PrefixLoader(
            {
                "schemaforms": FileSystemLoader(_TEMPLATES),
                "govuk_frontend_jinja": PackageLoader("govuk_frontend_jinja"),
            }
        )
    )
    app.jinja_loader = ChoiceLoader(loaders)  # type: ignore[method-assign,assignment]
    app.extensions["schemaforms"] = True
