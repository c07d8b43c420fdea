"""The endpoints of version 1. Each declares the policy check it applies (DESIGN.md rule 10); the token
itself is checked for every route in auth.py before the view runs."""

from __future__ import annotations

import math
import re
from typing import Any

from flask import Response, jsonify, request

from app import policy
from app.schemaforms import FieldError
from app.services import api_cases, case_view, trays, workflow
from app.services.errors import Forbidden, FormInvalid, NotFound, NotSaved, ReasonNeeded, TaskConflict
from app.web.api import bp, openapi, shapes
from app.web.api.auth import caller
from app.web.api.errors import ApiError

MAX_KEY_LENGTH = 200
_SURROGATE = re.compile("[\ud800-\udfff]")


@bp.get("/openapi.json")
@policy.declare("token")
def openapi_document() -> Response:
    return jsonify(openapi.document())


@bp.get("/v1/flows")
@policy.declare("can_record_contact")
def flows() -> Response:
    return jsonify(
        {
            "flows": [
                {"name": f.name, "title": f.title, "start_form": f.start_form} for f in api_cases.flows_for(caller())
            ]
        }
    )


@bp.post("/v1/cases")
@policy.declare("can_record_contact")
def create_case() -> tuple[Response, int, dict[str, str]]:
    user = caller()
    body = _json_body()
    flow, data = body.get("flow"), body.get("data")
    if not isinstance(flow, str) or not flow:
        raise ApiError(400, 'Give the flow to start as "flow", for example "initial_contact".')
    if not isinstance(data, dict):
        raise ApiError(400, 'Give the flow\'s start data as an object in "data".')
    key = _idempotency_key()
    try:
        if not api_cases.may_start(user, flow):
            raise ApiError(403, "You may not start this flow.")
        started = api_cases.start(user, flow, data, key)
    except api_cases.UnknownFlow:
        raise ApiError(
            400, f"There is no flow called {flow!r}. GET /api/v1/flows lists the flows you may start."
        ) from None
    except api_cases.KeyReused as reused:
        raise ApiError(422, str(reused)) from None
    except FormInvalid as invalid:
        raise _invalid(invalid) from None
    except Forbidden as err:
        raise ApiError(403, str(err)) from None
    except NotSaved as err:
        raise ApiError(409, str(err)) from None
    headers = {"Location": f"/api/v1/cases/{started.case_id}"}
    if not started.created:
        headers["Idempotent-Replayed"] = "true"
    return jsonify(_case_body(started.case_id)), 201 if started.created else 200, headers


@bp.get("/v1/cases/<int:case_id>")
@policy.declare("can_see_case")
def case(case_id: int) -> Response:
    return jsonify(_case_body(case_id))


@bp.get("/v1/tasks")
@policy.declare("token")
def tasks() -> Response:
    tray = request.args.get("tray", "mine")
    if tray not in ("mine", "team"):
        raise ApiError(400, "Choose the tray with ?tray=mine or ?tray=team.")
    rows = trays.my_tasks(caller()) if tray == "mine" else trays.team_tasks(caller())
    return jsonify({"tray": tray, "tasks": [shapes.task(row) for row in rows]})


@bp.get("/v1/tasks/<task_id>")
@policy.declare("can_act_on_task")
def task(task_id: str) -> Response:
    try:
        row, bundle = workflow.open_task(caller(), task_id)
        schema = bundle.form(row.form_id) or {"type": "object", "properties": {}}
        data = workflow.task_data(row)
    except TaskConflict as conflict:
        raise _conflict(conflict) from None
    except NotFound:
        raise ApiError(404, f"There is no task {task_id} waiting.") from None
    except Forbidden as err:
        raise ApiError(403, str(err)) from None
    return jsonify({**shapes.task(row), "form": schema, "data": shapes.form_data(schema, data)})


@bp.post("/v1/tasks/<task_id>/complete")
@policy.declare("can_act_on_task")
def complete_task(task_id: str) -> Response:
    body = _json_body()
    data = body.get("data")
    if not isinstance(data, dict):
        raise ApiError(400, 'Give the task\'s answers as an object in "data".')
    user = caller()
    try:
        case_id = workflow.complete_task(user, task_id, data)
    except FormInvalid as invalid:
        raise _invalid(invalid) from None
    except TaskConflict as conflict:
        raise _conflict(conflict) from None
    except NotFound:
        raise ApiError(404, f"There is no task {task_id} waiting.") from None
    except Forbidden as err:
        raise ApiError(403, str(err)) from None
    except NotSaved as err:
        raise ApiError(409, str(err)) from None
    return jsonify(_case_body(case_id, after_task=True))


def _case_body(case_id: int, after_task: bool = False) -> dict[str, Any]:
    user = caller()
    try:
        view = case_view.for_user(user, case_id)
    except NotFound:
        raise ApiError(404, f"There is no case {case_id} that you can see.") from None
    except ReasonNeeded as restricted:
        # Only someone who may open the record is told it is there: it opens on its page, with a reason.
        raise ApiError(403, str(restricted) + " Open it in Compass, where the reason is asked.") from None
    except Forbidden:
        if after_task:
            # A partner's last task on a case was their only view of it: the task is done, the case is no
            # longer theirs to read, and the answer says only which case the task belonged to.
            return {"id": case_id}
        # The same answer as for a case that does not exist, so whether it exists is not revealed.
        raise ApiError(404, f"There is no case {case_id} that you can see.") from None
    body = shapes.case(view, user)
    case_view.record_case_view(user, case_id)
    return body


def _json_body() -> dict[str, Any]:
    try:
        body = request.get_json(force=True, silent=True)
    except RecursionError:
        body = None  # nested deeper than the parser goes: no form has answers like that
    if not isinstance(body, dict):
        raise ApiError(400, "Send the body as a JSON object, with the header Content-Type: application/json.")
    if not _storable(body):
        raise ApiError(
            400,
            "The body is not plain JSON: it holds NaN or Infinity, or an unpaired surrogate escape such as \\ud800. "
            "Send numbers as finite numbers and text as UTF-8.",
        )
    return body


def _storable(body: Any) -> bool:
    """Python's JSON parser lets through NaN, Infinity and lone surrogate escapes, none of which is JSON text;
    the database cannot store the last at all, so they are refused here rather than failing on saving."""
    pending = [body]
    while pending:  # not recursive: a body may be nested as deep as the parser allows
        value = pending.pop()
        if isinstance(value, str):
            if _SURROGATE.search(value):
                return False
        elif isinstance(value, float):
            if not math.isfinite(value):
                return False
        elif isinstance(value, dict):
            pending.extend(value.keys())
            pending.extend(value.values())
        elif isinstance(value, list):
            pending.extend(value)
    return True


def _idempotency_key() -> str | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ApiError(400, f"An Idempotency-Key is 1 to {MAX_KEY_LENGTH} printable characters, such as a UUID.")
    return key


def _invalid(invalid: FormInvalid) -> ApiError:
    errors: dict[str, str] = {}
    for error in invalid.errors:
        path = error.path if isinstance(error, FieldError) else ""
        errors.setdefault(path or "data", error.message if isinstance(error, FieldError) else str(error))
    return ApiError(422, "Some answers are missing or not right.", errors=errors)


def _conflict(conflict: TaskConflict) -> ApiError:
    return ApiError(
        409,
        str(conflict),
        completed_by=conflict.completed_by,
        completed_at=shapes.moment(conflict.completed_at),
    )
