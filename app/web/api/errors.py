"""Every API error is JSON in plain words, never an HTML page and never a stack trace."""

from __future__ import annotations

from typing import Any

from flask import Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException, MethodNotAllowed, NotFound

from app.extensions import db
from app.web.api import bp

MESSAGES = {
    400: "The request could not be understood.",
    401: "A valid bearer token is needed.",
    403: "You may not do this.",
    404: "There is nothing at this address. The API's paths are listed in /api/openapi.json.",
    405: "This address does not accept that method.",
    409: "The request conflicts with the current state of the case.",
    413: "The request is too large.",
    415: "Send the body as JSON.",
    422: "The request was understood but cannot be carried out.",
    500: "Sorry, there is a problem with the service. Nothing you sent was saved; try again later.",
}


class ApiError(Exception):
    """An answer other than success: a status, a message in plain words, and any further fields."""

    def __init__(self, status: int, message: str | None = None, headers: dict[str, str] | None = None, **extra: Any):
        super().__init__(message or MESSAGES.get(status, ""))
        self.status = status
        self.message = message or MESSAGES.get(status, "")
        self.headers = headers or {}
        self.extra = extra


def error_response(status: int, message: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    response = jsonify({"error": message, **extra})
    response.status_code = status
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


@bp.errorhandler(ApiError)
def api_error(err: ApiError) -> Response:
    return error_response(err.status, err.message, err.headers, **err.extra)


@bp.errorhandler(HTTPException)
def http_error(err: HTTPException) -> Response:
    status = err.code or 500
    headers = {"Allow": ", ".join(err.valid_methods)} if isinstance(err, MethodNotAllowed) and err.valid_methods else {}
    return error_response(status, MESSAGES.get(status, err.name), headers)


@bp.errorhandler(Exception)
def unexpected(err: Exception) -> Response:
    current_app.logger.exception("unexpected error in the API")
    db.session.rollback()
    return error_response(500, MESSAGES[500])


@bp.before_app_request
def unknown_api_path() -> Response | None:
    # A path that matches no route belongs to no blueprint, so the blueprint's handlers above never see it and
    # the web's HTML error page would answer. Answer in JSON for anything under /api instead.
    failure = request.routing_exception
    if not (request.path == "/api" or request.path.startswith("/api/")):
        return None
    if isinstance(failure, MethodNotAllowed):
        return http_error(failure)
    if isinstance(failure, NotFound):
        return error_response(404, MESSAGES[404])
    return None
