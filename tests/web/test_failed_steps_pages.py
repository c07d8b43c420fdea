"""/failed-steps and POST /failed-steps/<id>/retry: the managers' list of steps whose handler failed, and running
one again, told in plain words what happened; never an error page. Two managers at once run the step once."""

from __future__ import annotations

import re
import threading

import pytest
from flask import Flask
from harness import make_app
from sqlalchemy import select
from support import diagram_files, user

import handlers
from app.engine import specs
from app.extensions import db
from app.models import AuditEvent, Case, CasePerson, Person, ProcessBundle, ProcessInstance, Task
from app.services import workflow
from app.services.restricted import restrict

PARTNER = {"up": False}
CALLS: list[str] = []


@handlers.handler("test_pages_partner")
def _partner(ctx: handlers.Context) -> handlers.Result:
    CALLS.append(ctx.case_reference)
    if not PARTNER["up"]:
        raise ConnectionError("the partner's system did not answer")
    return handlers.Result(data={"told": True})


@pytest.fixture(autouse=True)
def partner_down():
    PARTNER["up"] = False
    CALLS.clear()
    yield


def failed_case(reference: str = "T-pages", child: str = "Poppy Failedstep") -> tuple[Case, ProcessInstance]:
    """A case about one child whose partner step has failed after the note was written."""
    files, forms = diagram_files("flaky_partner")
    files = {n: t.replace("test_flaky_partner", "test_pages_partner") for n, t in files.items()}
    digest = specs.bundle_hash(files, forms)
    bundle = db.session.scalar(select(ProcessBundle).where(ProcessBundle.hash == digest))
    if bundle is None:
        bundle = ProcessBundle(flow="flaky_partner", hash=digest, files=files, forms=forms)
        db.session.add(bundle)
    case = Case(reference=reference, source="phone", created_by_id=user("ssw").id)
    db.session.add(case)
    db.session.flush()
    person = Person(name=child, name_key=child.lower())
    db.session.add(person)
    db.session.flush()
    db.session.add(CasePerson(case_id=case.id, person_id=person.id, role="child", key="child-1", details={}))
    instance = workflow.start_instance(case, bundle, user("ssw"), {"children": [child]})
    db.session.commit()
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "note"))
    workflow.complete_task(user("ssw"), task.id, {"finding": "The note before the failure."})
    db.session.expire_all()
    return case, db.session.get(ProcessInstance, instance.id)


def version_on(page: str, instance_id: int) -> str:
    form = re.search(rf'action="/failed-steps/{instance_id}/retry".*?name="version" value="(\d+)"', page, re.S)
    assert form, page[-3000:]
    return form.group(1)


def test_a_manager_sees_the_failed_step_and_runs_it_again_once_put_right(web) -> None:
    _case, instance = failed_case()
    manager = web.login("team_manager")
    page = manager.get("/failed-steps")
    assert "T-pages" in page and "Poppy Failedstep" in page
    assert "Notify the partner agency" in page
    assert "ConnectionError: the partner&#39;s system did not answer" in page
    version = version_on(page, instance.id)

    PARTNER["up"] = True
    answer = manager.post(f"/failed-steps/{instance.id}/retry", {"version": version}, expect=302)
    assert answer.headers["Location"] == "/failed-steps"
    page = manager.get("/failed-steps")
    assert "“Notify the partner agency” on case T-pages ran again and the case has moved on." in page
    assert "No step has failed" in page
    # The case goes on: the child's check is in the senior social worker's tray.
    tray = web.another().login("ssw").get("/tasks/team")
    assert "Check the child&#39;s records" in tray
    assert db.session.get(ProcessInstance, instance.id).status == "running"


def test_a_step_that_fails_again_is_told_in_plain_words_and_stays_listed(web) -> None:
    _case, instance = failed_case()
    manager = web.login("service_manager")
    version = version_on(manager.get("/failed-steps"), instance.id)
    manager.post(f"/failed-steps/{instance.id}/retry", {"version": version}, expect=302)
    page = manager.get("/failed-steps")
    assert "The step did not run" in page
    assert (
        "“Notify the partner agency” on case T-pages failed again: ConnectionError: the partner&#39;s system did "
        "not answer. It stays on this list; nothing recorded before it was lost."
    ) in page
    assert f'action="/failed-steps/{instance.id}/retry"' in page
    assert version_on(page, instance.id) != version
    assert "Traceback" not in page


def test_a_second_retry_of_the_same_failure_is_told_someone_was_there_first(web) -> None:
    _case, instance = failed_case()
    first = web.login("team_manager")
    second = web.another().login("service_manager")
    version = version_on(first.get("/failed-steps"), instance.id)
    assert version_on(second.get("/failed-steps"), instance.id) == version
    PARTNER["up"] = True
    first.post(f"/failed-steps/{instance.id}/retry", {"version": version}, expect=302)
    second.post(f"/failed-steps/{instance.id}/retry", {"version": version}, expect=302)
    page = second.get("/failed-steps")
    assert "already been run again by someone else" in page
    assert CALLS == ["T-pages", "T-pages"]  # failed once, run again once


@pytest.mark.parametrize("version", ["", "abc", "-1", "9" * 40])
def test_a_retry_with_no_good_version_runs_nothing_and_says_why(web, version) -> None:
    _case, instance = failed_case()
    manager = web.login("team_manager")
    manager.post(f"/failed-steps/{instance.id}/retry", {"version": version}, expect=302)
    assert "already been run again by someone else, or has changed" in manager.get("/failed-steps")
    assert CALLS == ["T-pages"]
    assert db.session.get(ProcessInstance, instance.id).status == "failed"


def test_those_who_may_not_retry_are_refused_and_nothing_runs(web) -> None:
    _case, instance = failed_case()
    version = str(instance.version)
    for role in ("ssw", "fpoc", "police", "business_support", "process_owner", "admin"):
        client = web.another().login(role)
        page = client.get("/failed-steps", expect=403)
        assert "Poppy Failedstep" not in page and "T-pages" not in page
        client.post(f"/failed-steps/{instance.id}/retry", {"version": version}, expect=403)
    assert CALLS == ["T-pages"]
    web.login("team_manager").post("/failed-steps/999999/retry", {"version": "1"}, expect=404)


def test_a_restricted_record_is_listed_without_its_names_or_its_error(web) -> None:
    case, instance = failed_case()
    restrict(user("service_manager"), case.id, "The family of a member of staff")
    db.session.commit()
    manager = web.login("team_manager")
    page = manager.get("/failed-steps")
    assert "T-pages" in page and "Restricted record" in page
    assert "Poppy Failedstep" not in page
    assert "ConnectionError" not in page
    assert f'action="/failed-steps/{instance.id}/retry"' not in page
    assert "Open the record" in page
    refused = manager.post(f"/failed-steps/{instance.id}/retry", {"version": str(instance.version)}, expect=403)
    assert "open it with a reason" in refused.get_data(as_text=True)
    assert CALLS == ["T-pages"]


def test_a_lado_step_is_listed_only_for_those_who_may_see_the_lado_flow(web) -> None:
    _case, instance = failed_case()
    instance.flow = "lado"
    db.session.commit()
    assert "T-pages" in web.login("service_manager").get("/failed-steps")
    team = web.another().login("team_manager")
    page = team.get("/failed-steps")
    assert "T-pages" not in page and "Poppy Failedstep" not in page
    team.post(f"/failed-steps/{instance.id}/retry", {"version": str(instance.version)}, expect=404)
    assert CALLS == ["T-pages"]


def test_the_case_page_points_a_manager_to_the_failed_steps(web) -> None:
    case, _instance = failed_case()
    link = '<a class="govuk-link" href="/failed-steps">See the failed steps</a>'
    manager = web.login("team_manager").get(f"/cases/{case.id}")
    assert link in manager  # beside the warning
    assert 'class="govuk-service-navigation__link" href="/failed-steps"' in manager  # and in the menu
    social_worker = web.another().login("ssw").get(f"/cases/{case.id}")
    assert "A step of this case failed" in social_worker and 'href="/failed-steps"' not in social_worker


# --- Two managers at once, each on a connection of their own (PostgreSQL) ---------------------------------


def signed_in(app: Flask, role: str) -> tuple[object, str]:
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    signed = client.post(
        "/login", data={"username": f"demo.{role}", "password": "compass-demo", "csrf_token": token[1]}
    )
    assert signed.status_code == 302
    listed = client.get("/failed-steps").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', listed)
    assert token
    return client, token[1]


@pytest.mark.postgres_only
def test_two_managers_retrying_at_once_run_the_step_once(pg_fresh: Flask) -> None:
    case, instance = failed_case()
    version = str(instance.version)
    PARTNER["up"] = True
    app = make_app(pg_fresh.config["SQLALCHEMY_DATABASE_URI"])
    presses = [signed_in(app, "team_manager"), signed_in(app, "service_manager")]
    start = threading.Barrier(len(presses))
    statuses: list[int] = [0, 0]

    def press(n: int, client: object, token: str) -> None:
        start.wait()
        response = client.post(  # type: ignore[attr-defined]
            f"/failed-steps/{instance.id}/retry", data={"version": version, "csrf_token": token}
        )
        statuses[n] = response.status_code

    threads = [threading.Thread(target=press, args=(n, *p)) for n, p in enumerate(presses)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert statuses == [302, 302]
    assert CALLS == ["T-pages", "T-pages"]  # the failure, and one run again: never two
    db.session.expire_all()
    retried = db.session.scalars(
        select(AuditEvent).where(AuditEvent.case_id == case.id, AuditEvent.name == "PROCESS_STEP_RETRIED")
    ).all()
    assert len(retried) == 1
    assert db.session.get(ProcessInstance, instance.id).status == "running"
