"""The process owner's pages of a flow's versions: the history, the diff of two versions, the preview of the
running cases to move, the move with its report, and undoing it. Case numbers and step names only: never a
child's name."""

from __future__ import annotations

import html
import json
import re
from typing import Any

from sqlalchemy import select

from app.extensions import db
from app.models import InstanceMigration, ProcessBundle, ProcessInstance
from app.services import bundles, scenarios

FLOW = "initial_contact"
SCENARIO = bundles.PROCESSES_DIR / FLOW / "scenarios" / "s17_consent_given.json"
NAMES = ["Amy Example", "Pat Example", "Sam Teacher"]  # the scenario's child, parent and referrer


def deploy_v2() -> ProcessBundle:
    """Version 2: the review renamed, and a question added to its form."""
    files, forms = bundles.read_shipped(FLOW)
    files = {
        k: v.replace('name="Review the contact"', 'name="Review the contact and its history"') for k, v in files.items()
    }
    forms = json.loads(json.dumps(forms))
    forms["ssw_review"]["properties"]["history_read"] = {"title": "Have you read the history?", "type": "boolean"}
    report = bundles._store(FLOW, files, forms, note="The review reads the history")
    db.session.commit()
    bundles.make_live(report.bundle_id)
    row = db.session.get(ProcessBundle, report.bundle_id)
    assert row is not None
    return row


def start_case(steps: int = 0) -> int:
    found = json.loads(SCENARIO.read_text())
    found["steps"], found["expect"] = found["steps"][:steps], {}
    result = scenarios.run(found)
    assert result.mismatches == []
    return result.case_id


def instance_id(case_id: int) -> int:
    found = db.session.scalar(select(ProcessInstance.id).where(ProcessInstance.case_id == case_id))
    assert found is not None
    return int(found)


def shows_no_names(page: str) -> None:
    assert [name for name in NAMES if name in page] == []


def text_of(page: str) -> str:
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", page)))


def test_the_history_lists_the_versions_and_offers_to_compare_two(web: Any, clock: Any) -> None:
    owner = web.login("process_owner")
    start_case()
    deploy_v2()

    page = text_of(owner.get(f"/processes/{FLOW}/versions"))

    assert "Version 2 Live" in page and "The review reads the history" in page
    assert "Version 1 " in page and "shipped with the code: processes/initial_contact.bpmn" in page
    assert "Compare two versions" in page
    body = owner.get(f"/processes/{FLOW}/versions")
    assert '<option value="1" selected>' in body and '<option value="2" selected>' in body


def test_the_diff_shows_what_changed_in_the_diagram_and_in_the_forms(web: Any) -> None:
    owner = web.login("process_owner")
    deploy_v2()

    page = text_of(owner.get(f"/processes/{FLOW}/versions/diff?from=1&to=2"))

    assert "Version 1 and version 2" in page
    assert "Changed (1)" in page
    assert "name changed from “Review the contact” to “Review the contact and its history”" in page
    assert "Have you read the history? history_read Added optional type boolean" in page
    same = text_of(owner.get(f"/processes/{FLOW}/versions/diff?from=2&to=2"))
    assert "nothing a case runs on differs" in same
    left_out = text_of(owner.get(f"/processes/{FLOW}/versions/diff"))
    assert "Version 1 and version 2" in left_out


def test_bad_or_unknown_version_numbers_are_told_plainly_never_a_failure(web: Any) -> None:
    owner = web.login("process_owner")
    deploy_v2()
    for query in ("from=two&to=2", "from=1&to=" + "9" * 31, "from=0", "from=-1", "from=%C2%B2"):
        page = owner.get(f"/processes/{FLOW}/versions/diff?{query}", expect=400)
        assert "must be a whole number from 1 to 999,999" in page, query
        assert "There is a problem" in page
    unknown = owner.get(f"/processes/{FLOW}/versions/diff?from=1&to=9", expect=404)
    assert "The Initial contact flow has no version 9 (its versions: 1, 2)" in text_of(unknown)
    single = text_of(owner.get("/processes/mat/versions/diff"))
    assert "one version so far: there is nothing to compare it with yet" in single


def test_an_unknown_flow_is_not_found_on_every_page(web: Any) -> None:
    owner = web.login("process_owner")
    for url in ("/processes/no_flow/versions", "/processes/no_flow/versions/diff", "/processes/no_flow/migration"):
        owner.get(url, expect=404)
    owner.post("/processes/no_flow/migration", {"all": "yes"}, expect=404)


def test_the_preview_shows_case_numbers_and_steps_and_a_move_is_reported_and_undone(web: Any, clock: Any) -> None:
    owner = web.login("process_owner")
    case_id = start_case()
    deploy_v2()

    preview = owner.get(f"/processes/{FLOW}/migration")
    shows_no_names(preview)
    words = text_of(preview)
    assert f"Case {case_id}" in words and "Review the contact" in words and "Can move" in words
    assert "1 of 1 can move." in words
    assert "The form of “Review the contact” changes: question “Have you read the history?” added" in words

    report = owner.post(
        f"/processes/{FLOW}/migration", {"instance_id": str(instance_id(case_id)), "to_version": "2"}, expect=200
    )
    said = text_of(report.get_data(as_text=True))
    shows_no_names(said)
    assert "1 case moved to version 2" in said and f"Case {case_id}" in said and "Moved" in said

    moved = owner.get(f"/processes/{FLOW}/migration")
    assert "No running case is on an older version" in text_of(moved)
    migration = db.session.scalar(select(InstanceMigration))
    assert migration is not None
    assert f"/processes/migrations/{migration.id}/undo" in moved

    undone = owner.post(f"/processes/migrations/{migration.id}/undo", {}, expect=302)
    assert undone.headers["Location"].startswith(f"/processes/{FLOW}/migration")
    back = text_of(owner.get(undone.headers["Location"]))
    assert "The move was undone: the case is back as it was" in back
    assert f"Case {case_id}" in back and "Undone" in back
    again = owner.post(f"/processes/migrations/{migration.id}/undo", {}, expect=409)
    assert "The move could not be undone: This move has been undone already" in text_of(again.get_data(as_text=True))


def test_moving_all_that_can_reports_each_case(web: Any, clock: Any) -> None:
    owner = web.login("process_owner")
    first, second = start_case(), start_case(steps=2)
    deploy_v2()

    report = text_of(
        owner.post(f"/processes/{FLOW}/migration", {"all": "yes", "to_version": "2"}, expect=200).get_data(as_text=True)
    )

    assert "2 cases moved to version 2" in report
    assert f"Case {first}" in report and f"Case {second}" in report
    assert (
        db.session.scalar(select(ProcessBundle.number).join(ProcessInstance).where(ProcessInstance.case_id == second))
        == 2
    )


def test_a_move_asked_badly_is_refused_with_the_preview_and_nothing_moves(web: Any, clock: Any) -> None:
    owner = web.login("process_owner")
    case_id = start_case()
    deploy_v2()
    for data, message in (
        ({}, "Choose a case to move, or move all that can"),
        ({"instance_id": "not a number"}, "Choose a case to move, or move all that can"),
        ({"instance_id": "999999", "to_version": "2"}, "That case is not one of this flow's running cases"),
        # A page drawn before version 2 went live, or one that says no version: not what the owner looked at.
        ({"all": "yes", "to_version": "1"}, "Version 2 went live after this page was drawn"),
        ({"instance_id": str(instance_id(case_id))}, "Version 2 went live after this page was drawn"),
    ):
        page = text_of(owner.post(f"/processes/{FLOW}/migration", data, expect=400).get_data(as_text=True))
        assert "There is a problem" in page and message in page and f"Case {case_id}" in page
    assert db.session.scalar(select(InstanceMigration)) is None
    owner.post("/processes/migrations/999999/undo", {}, expect=404)


def test_an_undo_after_the_case_moved_on_is_refused_in_plain_words(web: Any, clock: Any) -> None:
    from flows import complete

    owner = web.login("process_owner")
    case_id = start_case()
    deploy_v2()
    owner.post(
        f"/processes/{FLOW}/migration", {"instance_id": str(instance_id(case_id)), "to_version": "2"}, expect=200
    )
    complete(case_id, "ssw_review", "ssw", {"next_step": "decide"})
    migration = db.session.scalar(select(InstanceMigration))
    assert migration is not None
    page = owner.get(f"/processes/{FLOW}/migration")
    assert "The case has moved on since: it stays on version 2" in text_of(page)

    refused = owner.post(f"/processes/migrations/{migration.id}/undo", {}, expect=409)

    assert "The case has moved on since it was moved to the new version" in text_of(refused.get_data(as_text=True))
    db.session.refresh(migration)
    assert migration.reverted_at is None


def test_only_process_owners_see_the_pages(web: Any) -> None:
    ssw = web.login("ssw")
    for url in (f"/processes/{FLOW}/versions", f"/processes/{FLOW}/versions/diff", f"/processes/{FLOW}/migration"):
        ssw.get(url, expect=403)
    ssw.post(f"/processes/{FLOW}/migration", {"all": "yes"}, expect=403)
