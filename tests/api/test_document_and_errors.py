"""The OpenAPI document names every route the API has, and every error under /api is JSON in plain words."""

from __future__ import annotations

import re

from flask import Flask
from jsonschema import Draft202012Validator


def documented_routes(app: Flask) -> dict[str, set[str]]:
    routes: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.rule.startswith("/api/"):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule)
            routes.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return routes


def test_the_document_describes_every_route_of_the_url_map_and_no_other(api) -> None:
    answer = api.as_role("fpoc").get("/api/openapi.json")
    document = answer.json
    assert document["openapi"].startswith("3.1")
    assert document["components"]["securitySchemes"]["bearer"] == {
        "type": "http",
        "scheme": "bearer",
        "description": "An API token.",
    }
    described = {path: set(operations) for path, operations in document["paths"].items()}
    routes = documented_routes(api.app)
    assert any(path.startswith("/api/v1/") for path in routes)
    assert described == routes


def test_every_operation_describes_its_answers_and_every_schema_is_valid(api) -> None:
    answer = api.as_role("fpoc").get("/api/openapi.json")
    document = answer.json
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            assert operation["summary"] and operation["operationId"], (method, path)
            assert "401" in operation["responses"], (method, path)
            assert any(code.startswith("2") for code in operation["responses"]), (method, path)
            for name in re.findall(r"{([a-z_]+)}", path):
                assert name in {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"#/components/schemas/([A-Za-z]+)"', answer.text))
    assert refs <= set(document["components"]["schemas"])


def test_the_document_needs_a_token_like_everything_else(api) -> None:
    answer = api.with_token(None).get("/api/openapi.json", expect=401)
    assert answer.headers["WWW-Authenticate"].startswith("Bearer")


def test_unknown_paths_and_methods_under_api_are_json(api) -> None:
    client = api.as_role("ssw")
    for url in ("/api/v1/nowhere", "/api/v2/cases", "/api/", "/api/v1/cases/not-a-number"):
        answer = client.get(url, expect=404)
        assert "openapi.json" in answer.json["error"]
    refused = client.call("DELETE", "/api/v1/cases", expect=405)
    assert refused.json["error"] and "POST" in refused.headers["Allow"]
    # A stranger is told the same about a path that does not exist: there is nothing to protect there.
    api.with_token(None).post("/api/v1/nowhere", {"x": 1}, expect=404)


def test_the_web_keeps_its_own_error_pages(api) -> None:
    response = api.app.test_client().get("/no/such/page")
    assert response.status_code == 404
    assert response.mimetype == "text/html"
