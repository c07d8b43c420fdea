"""Every route declares its access check (DESIGN.md rule 10), and every page but sign-in needs a login."""

from flask import Flask


def test_every_route_declares_its_check(app: Flask) -> None:
    missing = []
    for rule in app.url_map.iter_rules():
        view = app.view_functions[rule.endpoint]
        if not getattr(view, "policy_check", None):
            missing.append(f"{rule.rule} ({rule.endpoint})")
    assert missing == []


def test_only_sign_in_and_assets_are_public(app: Flask) -> None:
    public = sorted(
        rule.rule
        for rule in app.url_map.iter_rules()
        if getattr(app.view_functions[rule.endpoint], "policy_check", None) == "public"
    )
    assert public == ["/assets/<path:filename>", "/login"]


def test_every_other_page_sends_a_stranger_to_sign_in(fresh: Flask) -> None:
    client = fresh.test_client()
    for rule in fresh.url_map.iter_rules():
        if getattr(fresh.view_functions[rule.endpoint], "policy_check", None) == "public":
            continue
        url = rule.rule
        placeholders = [
            ("<int:case_id>", "1"),
            ("<int:person_id>", "1"),
            ("<int:item_id>", "1"),
            ("<int:other_id>", "2"),
            ("<int:instance_id>", "1"),
            ("<int:migration_id>", "1"),
        ]
        for placeholder, value in placeholders:
            url = url.replace(placeholder, value)
        url = url.replace("<task_id>", "x")
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(url, method=method)
            if rule.rule.startswith("/api/"):
                # Other systems get a plain answer, not a sign-in page.
                assert response.status_code == 401 and response.is_json, (method, url, response.status_code)
                assert response.headers["WWW-Authenticate"].startswith("Bearer"), (method, url)
                continue
            if method == "POST" and response.status_code == 400:
                continue  # refused earlier still: no CSRF token
            assert response.status_code == 302, (method, url, response.status_code)
            assert "/login" in response.headers["Location"], (method, url)
