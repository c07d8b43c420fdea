"""The OpenAPI 3.1 description of the API. A test compares its paths with the URL map, so a route added
without being described here fails the suite."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

NULLABLE_STRING = {"type": ["string", "null"]}
MOMENT = {"type": ["string", "null"], "format": "date-time"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str, headers: dict[str, Any] | None = None) -> dict[str, Any]:
    response: dict[str, Any] = {"description": description, "content": {"application/json": {"schema": schema}}}
    if headers:
        response["headers"] = headers
    return response


def _error(description: str) -> dict[str, Any]:
    return _json(_ref("Error"), description)


UNAUTHORISED = {
    "description": "No token, or a token that is wrong, revoked, or whose user is no longer active.",
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}, "description": 'Bearer realm="compass"'}},
    "content": {"application/json": {"schema": _ref("Error")}},
}

SCHEMAS: dict[str, Any] = {
    "Error": {
        "type": "object",
        "required": ["error"],
        "properties": {"error": {"type": "string", "description": "What went wrong, in plain words."}},
    },
    "ValidationErrors": {
        "type": "object",
        "required": ["error", "errors"],
        "properties": {
            "error": {"type": "string"},
            "errors": {
                "type": "object",
                "description": "One message per answer, keyed by the answer's path in the data, such as "
                '"children.0.name". A problem with the data as a whole is keyed "data".',
                "additionalProperties": {"type": "string"},
            },
        },
    },
    "Conflict": {
        "type": "object",
        "required": ["error", "completed_by", "completed_at"],
        "properties": {
            "error": {"type": "string"},
            "completed_by": {**NULLABLE_STRING, "description": "The name of whoever completed the task."},
            "completed_at": MOMENT,
        },
    },
    "Flow": {
        "type": "object",
        "required": ["name", "title", "start_form"],
        "properties": {
            "name": {"type": "string", "examples": ["initial_contact"]},
            "title": {"type": "string", "examples": ["Initial contact"]},
            "start_form": {
                "type": "object",
                "description": "The JSON Schema (draft 2020-12) that the start data must match.",
            },
        },
    },
    "FlowList": {
        "type": "object",
        "required": ["flows"],
        "properties": {"flows": {"type": "array", "items": _ref("Flow")}},
    },
    "StartCase": {
        "type": "object",
        "required": ["flow", "data"],
        "properties": {
            "flow": {"type": "string", "description": "The name of a flow from /api/v1/flows."},
            "data": {"type": "object", "description": "The start data, matching the flow's start_form."},
        },
    },
    "Child": {
        "type": "object",
        "required": ["key", "name", "date_of_birth", "threshold", "outcome", "handover", "decided_at"],
        "properties": {
            "key": {"type": "string", "examples": ["child-1"]},
            "name": {"type": "string"},
            "date_of_birth": {"type": ["string", "null"], "format": "date"},
            "threshold": {**NULLABLE_STRING, "description": "below_early_help, early_help, s17 or s47."},
            "outcome": {**NULLABLE_STRING, "description": "The contact's outcome for this child; null while pending."},
            "handover": {**NULLABLE_STRING, "description": "The flow this child was handed over to, if any."},
            "decided_at": MOMENT,
        },
    },
    "Event": {
        "type": "object",
        "required": ["at", "title", "by"],
        "properties": {
            "at": MOMENT,
            "title": {"type": "string"},
            "by": {**NULLABLE_STRING, "description": "Who did it; null for the system."},
            "detail": {
                "type": "array",
                "description": "The answers the step recorded. Only for the hub's own roles.",
                "items": {
                    "type": "object",
                    "required": ["label", "value"],
                    "properties": {"label": {"type": "string"}, "value": {"type": "string"}},
                },
            },
            "note": NULLABLE_STRING,
        },
    },
    "Task": {
        "type": "object",
        "required": ["id", "name", "title", "lane", "assignee", "due_at", "case_id"],
        "properties": {
            "id": {"type": "string", "description": "The task's id, used in /api/v1/tasks/{task_id}."},
            "name": {
                "type": "string",
                "description": "The task's id in the flow's diagram.",
                "examples": ["ssw_decision"],
            },
            "title": {"type": "string", "examples": ["Decide threshold and outcome"]},
            "subject": {**NULLABLE_STRING, "description": "Whom the task is about, such as one child."},
            "flow": {"type": "string"},
            "case_id": {"type": "integer"},
            "case_reference": NULLABLE_STRING,
            "lane": {"type": "string", "description": "The role that does the task."},
            "team": NULLABLE_STRING,
            "assignee": {**NULLABLE_STRING, "description": "The username of the person it is assigned to."},
            "due_at": MOMENT,
            "created_at": MOMENT,
        },
    },
    "TaskList": {
        "type": "object",
        "required": ["tray", "tasks"],
        "properties": {"tray": {"enum": ["mine", "team"]}, "tasks": {"type": "array", "items": _ref("Task")}},
    },
    "TaskDetail": {
        "allOf": [_ref("Task")],
        "type": "object",
        "required": ["form", "data"],
        "properties": {
            "form": {"type": "object", "description": "The JSON Schema (draft 2020-12) the answers must match."},
            "data": {"type": "object", "description": "The answers the task already holds, as its form shows."},
        },
    },
    "CompleteTask": {
        "type": "object",
        "required": ["data"],
        "properties": {"data": {"type": "object", "description": "The answers, matching the task's form."}},
    },
    "Case": {
        "type": "object",
        "required": ["id", "reference", "flow", "status", "outcome", "children", "tasks", "events"],
        "properties": {
            "id": {"type": "integer"},
            "reference": {"type": "string", "examples": ["CT-000042"]},
            "flow": NULLABLE_STRING,
            "status": {"enum": ["open", "closed"]},
            "source": {"type": "string", "description": "How the contact arrived: phone or marf."},
            "created_at": MOMENT,
            "closed_at": MOMENT,
            "concern": {"type": "string"},
            "immediate_protection": {"type": ["boolean", "null"]},
            "consent": NULLABLE_STRING,
            "outcome": {
                "type": "object",
                "description": "Each child's outcome by the child's key; null for a child still pending.",
                "additionalProperties": NULLABLE_STRING,
            },
            "children": {"type": "array", "items": _ref("Child")},
            "tasks": {"type": "array", "items": _ref("Task")},
            "events": {"type": "array", "items": _ref("Event")},
            "referrer": {
                "type": ["object", "null"],
                "description": "Only for the hub's own roles; never the referrer's contact details.",
                "properties": {"name": {"type": "string"}, "role": NULLABLE_STRING, "agency": NULLABLE_STRING},
            },
        },
    },
    "CaseAfterTask": {
        "oneOf": [
            _ref("Case"),
            {
                "type": "object",
                "description": "The task's case, when completing it ended the caller's view of the case.",
                "required": ["id"],
                "properties": {"id": {"type": "integer"}},
                "additionalProperties": False,
            },
        ]
    },
}


def _notification_schema() -> dict[str, Any]:
    """The domestic-abuse notification as its form describes it: one schema for the web, the upload and here."""
    form = json.loads((Path(__file__).resolve().parents[3] / "forms" / "da_notification.json").read_text("utf-8"))
    form.pop("$schema", None)
    return form  # type: ignore[no-any-return]


SCHEMAS["DomesticAbuseNotification"] = _notification_schema()
SCHEMAS["NotificationReceived"] = {
    "type": "object",
    "required": ["case_id", "case_reference", "police_reference", "status"],
    "properties": {
        "case_id": {"type": "integer", "description": "The case (contact) the notification became."},
        "case_reference": {"type": "string", "examples": ["CT-000042"]},
        "police_reference": {"type": "string", "description": "As stored: trimmed and in capitals."},
        "status": {
            "enum": ["received", "already_received"],
            "description": "already_received: the same notification was sent before; nothing new was recorded.",
        },
    },
}

CASE_ID = {"name": "case_id", "in": "path", "required": True, "schema": {"type": "integer"}}
TASK_ID = {"name": "task_id", "in": "path", "required": True, "schema": {"type": "string"}}

# A body with `errors` (or `completed_by`) still carries `error`, so it is an Error as well: the answers that may
# take either shape are described with anyOf, since oneOf would call such a body invalid for matching both.
PATHS: dict[str, Any] = {
    "/api/openapi.json": {
        "get": {
            "operationId": "openapi_document",
            "summary": "This document",
            "responses": {"200": _json({"type": "object"}, "The OpenAPI 3.1 document."), "401": UNAUTHORISED},
        }
    },
    "/api/v1/flows": {
        "get": {
            "operationId": "list_flows",
            "summary": "The flows you may start, each with the JSON Schema of its start data",
            "description": "Today only initial_contact, for those who record contacts. Empty for anyone else.",
            "responses": {"200": _json(_ref("FlowList"), "The flows."), "401": UNAUTHORISED},
        }
    },
    "/api/v1/cases": {
        "post": {
            "operationId": "start_case",
            "summary": "Start a flow: for initial_contact, record a contact (a MARF sent electronically)",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": "Any unique string, such as a UUID. Sending the same request with the same key "
                    "again returns the case the first made (200) instead of a second case. The same key with a "
                    "different request is refused (422). Keys belong to the token's user.",
                }
            ],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("StartCase")}}},
            "responses": {
                "201": _json(_ref("Case"), "The case was made.", {"Location": {"schema": {"type": "string"}}}),
                "200": _json(
                    _ref("Case"),
                    "A retry: the Idempotency-Key found the case an earlier request made.",
                    {"Idempotent-Replayed": {"schema": {"const": "true"}}},
                ),
                "400": _error("The body is not a JSON object, lacks flow or data, or names an unknown flow."),
                "401": UNAUTHORISED,
                "403": _error("You may not start this flow."),
                "409": _error("The case could not be saved; nothing was kept. Try again."),
                "422": {
                    "description": "The data does not match the start form (errors), or the Idempotency-Key was "
                    "used before for a different request (error only).",
                    "content": {"application/json": {"schema": {"anyOf": [_ref("ValidationErrors"), _ref("Error")]}}},
                },
            },
        }
    },
    "/api/v1/notifications/domestic-abuse": {
        "post": {
            "operationId": "receive_domestic_abuse_notification",
            "summary": "Send a police domestic abuse notification: it becomes a contact and goes to the daily triage",
            "description": "For the police, coordinators and senior social workers. Each child's school is told "
            "before the next school day when its e-mail address is given (Operation Encompass). The police "
            "reference identifies the notification: sending the same notification again answers 200 with the case "
            "the first made; the same reference with different details is refused (422, on police_reference).",
            "parameters": [
                {
                    "name": "Idempotency-Key",
                    "in": "header",
                    "required": False,
                    "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                    "description": "Optional, as for POST /api/v1/cases: the police reference already makes a "
                    "retry safe.",
                }
            ],
            "requestBody": {
                "required": True,
                "content": {"application/json": {"schema": _ref("DomesticAbuseNotification")}},
            },
            "responses": {
                "201": _json(
                    _ref("NotificationReceived"),
                    "Recorded: the case was made and its triage started.",
                    {"Location": {"schema": {"type": "string"}}},
                ),
                "200": _json(
                    _ref("NotificationReceived"),
                    "Already received: the same notification (or Idempotency-Key) made this case before.",
                    {"Idempotent-Replayed": {"schema": {"const": "true"}}},
                ),
                "400": _error("The body is not a JSON object."),
                "401": UNAUTHORISED,
                "403": _error("You may not send domestic abuse notifications."),
                "409": _error("The notification could not be saved; nothing was kept. Try again."),
                "422": {
                    "description": "The notification has problems, one message per answer (errors); or its police "
                    "reference was already used for a different notification (errors.police_reference); or the "
                    "Idempotency-Key was used for a different request (error only).",
                    "content": {"application/json": {"schema": {"anyOf": [_ref("ValidationErrors"), _ref("Error")]}}},
                },
            },
        }
    },
    "/api/v1/cases/{case_id}": {
        "get": {
            "operationId": "get_case",
            "summary": "A case: its children and their outcomes, open tasks and timeline",
            "description": "Reading a case is recorded in the audit trail.",
            "parameters": [CASE_ID],
            "responses": {
                "200": _json(_ref("Case"), "The case."),
                "401": UNAUTHORISED,
                "403": _error(
                    "A restricted case you may open: it opens in Compass, where the reason is asked. Or the token "
                    "lacks the read scope."
                ),
                "404": _error("No such case, or one you may not see: the two are answered alike."),
            },
        }
    },
    "/api/v1/tasks": {
        "get": {
            "operationId": "list_tasks",
            "summary": "Your tray (mine: tasks you may pick up) or your team's",
            "parameters": [
                {
                    "name": "tray",
                    "in": "query",
                    "required": False,
                    "schema": {"enum": ["mine", "team"], "default": "mine"},
                }
            ],
            "responses": {
                "200": _json(_ref("TaskList"), "The tasks, oldest first."),
                "400": _error("The tray is neither mine nor team."),
                "401": UNAUTHORISED,
            },
        }
    },
    "/api/v1/tasks/{task_id}": {
        "get": {
            "operationId": "get_task",
            "summary": "A waiting task with its form (JSON Schema) and the answers it already holds",
            "parameters": [TASK_ID],
            "responses": {
                "200": _json(_ref("TaskDetail"), "The task."),
                "401": UNAUTHORISED,
                "403": _error("The task is not yours to do."),
                "404": _error("No task with this id is waiting."),
                "409": _json(_ref("Conflict"), "Someone already completed the task."),
            },
        }
    },
    "/api/v1/tasks/{task_id}/complete": {
        "post": {
            "operationId": "complete_task",
            "summary": "Complete a waiting task with its answers",
            "parameters": [TASK_ID],
            "requestBody": {"required": True, "content": {"application/json": {"schema": _ref("CompleteTask")}}},
            "responses": {
                "200": _json(_ref("CaseAfterTask"), "Done: the task's case as it now stands."),
                "400": _error("The body is not a JSON object with data."),
                "401": UNAUTHORISED,
                "403": _error("The task is not yours to do."),
                "404": _error("No task with this id is waiting."),
                "409": _json(
                    {"anyOf": [_ref("Conflict"), _ref("Error")]},
                    "Someone already completed the task (who and when), or the case was too busy to save.",
                ),
                "422": _json(_ref("ValidationErrors"), "The answers do not match the task's form."),
            },
        }
    },
}

# A token whose scopes do not cover an operation is refused with 403 before the operation runs, whatever it is.
INSUFFICIENT_SCOPE = {
    "description": 'The token\'s scopes do not allow this (error="insufficient_scope" names the scope needed).',
    "headers": {"WWW-Authenticate": {"schema": {"type": "string"}}},
    "content": {"application/json": {"schema": _ref("Error")}},
}
for _operations in PATHS.values():
    for _operation in _operations.values():
        _operation["responses"].setdefault("403", INSUFFICIENT_SCOPE)


def document() -> dict[str, Any]:
    return {
        "openapi": "3.1.0",
        "jsonSchemaDialect": "https://json-schema.org/draft/2020-12/schema",
        "info": {
            "title": "Compass front door API",
            "version": "1",
            "description": "Record contacts and work the front door's tasks from another system. Every request "
            "carries a bearer token made with `flask --app app tokens create USERNAME`, and acts with that "
            'user\'s permissions. Every error is JSON: {"error": "..."}.',
        },
        "security": [{"bearer": []}],
        "paths": PATHS,
        "components": {
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer", "description": "An API token."}},
            "schemas": SCHEMAS,
        },
    }
