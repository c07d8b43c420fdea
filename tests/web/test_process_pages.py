"""Process owners' pages: the flows, a draft edited and saved through the modeller's form post, diagrams
uploaded and downloaded, and a deploy refused until the draft is sound and replayed."""

from __future__ import annotations

import html
import io
import re
from typing import Any

import pytest
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import AuditEvent, LiveBundle, ProcessBundle, ProcessDraft
from app.services import process_versions

FLOW = "information_request"
TASK = "routine_checks"  # a user task of the shipped information request diagram


def _shipped_xml() -> str:
    live = db.session.get(LiveBundle, FLOW)
    assert live is not None
    return str(live.bundle.files[f"{FLOW}.bpmn"])


def _draft() -> ProcessDraft:
    found = process_versions.draft_of(FLOW)
    assert found is not None
    return found


def _renamed(xml: str, new_name: str) -> str:
    changed, count = re.subn(rf'(<bpmn:userTask id="{TASK}" name=")[^"]*"', rf'\g<1>{new_name}"', xml)
    assert count == 1, "the test's task must be in the shipped diagram"
    return changed


def _kept_xml(page: str) -> str:
    """The diagram the page will hand back to the modeller (and post again on save)."""
    found = re.search(r'<textarea name="xml" id="modeller-xml"[^>]*>(.*?)</textarea>', page, flags=re.S)
    assert found is not None
    return html.unescape(found.group(1))


@pytest.fixture
def owner(web: Any) -> Any:
    return web.login("process_owner")


def _started(owner: Any) -> ProcessDraft:
    owner.post(f"/processes/{FLOW}/draft", {}, expect=302)
    return _draft()


def test_a_process_owner_sees_every_flow_and_lands_on_them(owner: Any) -> None:
    home = owner.client.get("/")
    assert home.status_code == 302 and home.headers["Location"].endswith("/processes")
    page = owner.get("/processes")
    for name in process_versions.FLOWS.values():
        assert html.escape(name) in page
    assert "Version 1" in page and "Start a draft" in page


@pytest.mark.parametrize("role", ["ssw", "team_manager", "service_manager", "admin", "police"])
def test_nobody_else_reaches_the_process_pages(web: Any, role: str) -> None:
    web.login(role)
    web.get("/processes", expect=403)
    web.get(f"/processes/{FLOW}/edit", expect=403)
    response = web.post(f"/processes/{FLOW}/draft", {})
    assert response.status_code == 403
    assert process_versions.draft_of(FLOW) is None


def test_an_unknown_flow_is_not_found(owner: Any) -> None:
    owner.get("/processes/no_such_flow/edit", expect=404)
    assert owner.post("/processes/no_such_flow/draft", {}).status_code == 404


def test_a_draft_starts_as_a_copy_of_the_live_version_and_the_modeller_gets_it(owner: Any) -> None:
    draft = _started(owner)
    assert draft.files[f"{FLOW}.bpmn"] == _shipped_xml()
    page = owner.get(f"/processes/{FLOW}/edit")
    assert "data-compass-modeller" in page and "compass-modeller.js" in page
    # The modeller is handed the diagram, the forms, the handlers and the roles to choose from.
    assert "information_request_decision" in html.unescape(page)
    assert '"business_support"' in html.unescape(page)
    # Starting again keeps the draft there is.
    owner.post(f"/processes/{FLOW}/draft", {}, expect=302)
    assert db.session.scalar(select(func.count()).select_from(ProcessDraft)) == 1


def test_saving_the_modellers_diagram_keeps_it_in_the_draft_only(owner: Any) -> None:
    draft = _started(owner)
    xml = _renamed(_shipped_xml(), "Check the records held")
    page = owner.post(f"/processes/{FLOW}/edit", {"xml": xml, "version": draft.version}, expect=200).get_data(
        as_text=True
    )
    assert "The draft was saved" in page
    assert _draft().files[f"{FLOW}.bpmn"] == xml
    # The live version is untouched: nothing runs on a draft.
    assert 'name="Check the records held"' not in _shipped_xml()
    saved = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "PROCESS_DRAFT_SAVED"))
    assert saved is not None and saved.user_id == user("process_owner").id


def test_problems_are_listed_and_handed_to_the_modeller_by_element(owner: Any) -> None:
    draft = _started(owner)
    xml = _shipped_xml().replace(
        'name="formJsonSchemaFilename" value="information_request_checks.json"',
        'name="formJsonSchemaFilename" value="a_form_not_written_yet.json"',
        1,
    )
    assert xml != _shipped_xml()
    page = owner.post(f"/processes/{FLOW}/edit", {"xml": xml, "version": draft.version}, expect=200).get_data(
        as_text=True
    )
    # A draft may be unfinished, so it is saved, with what must be put right before it can deploy.
    assert _draft().files[f"{FLOW}.bpmn"] == xml
    assert "to put right before it can be deployed" in page
    assert "a_form_not_written_yet" in html.unescape(page)
    marks = re.search(r'data-marks="([^"]*)"', page)
    assert marks is not None
    assert "does not exist" in html.unescape(marks.group(1))


@pytest.mark.parametrize(
    ("xml", "words"),
    [
        ("<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'><bpmn:process", "not well-formed"),
        ('<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]><x>&e;</x>', "document type"),
        ("<notbpmn/>", "not a BPMN 2.0 diagram"),
    ],
)
def test_a_diagram_that_is_not_safe_bpmn_is_refused_and_kept_on_the_page(owner: Any, xml: str, words: str) -> None:
    draft = _started(owner)
    before = draft.files
    page = owner.post(f"/processes/{FLOW}/edit", {"xml": xml, "version": draft.version}, expect=400).get_data(
        as_text=True
    )
    assert "There is a problem" in page and words in html.unescape(page)
    assert _kept_xml(page) == xml
    assert _draft().files == before
    assert _draft().version == draft.version


def test_saving_over_someone_elses_newer_draft_is_refused_with_the_diagram_kept(owner: Any) -> None:
    draft = _started(owner)
    stale = draft.version
    theirs = _renamed(_shipped_xml(), "Their name")
    owner.post(f"/processes/{FLOW}/edit", {"xml": theirs, "version": stale}, expect=200)
    mine = _renamed(_shipped_xml(), "My name")
    page = owner.post(f"/processes/{FLOW}/edit", {"xml": mine, "version": stale}, expect=409).get_data(as_text=True)
    assert "Someone else saved this draft" in page
    assert _kept_xml(page) == mine
    assert _draft().files[f"{FLOW}.bpmn"] == theirs


def test_a_diagram_made_elsewhere_is_uploaded_and_downloaded(owner: Any) -> None:
    draft = _started(owner)
    xml = _renamed(_shipped_xml(), "Uploaded name")
    response = owner.client.post(
        f"/processes/{FLOW}/upload",
        data={
            "csrf_token": owner.token(f"/processes/{FLOW}/edit"),
            "version": str(draft.version),
            "diagram": (io.BytesIO(xml.encode()), "changed.bpmn"),
        },
        content_type="multipart/form-data",
    )
    db.session.expire_all()
    assert response.status_code == 200, response.get_data(as_text=True)[:2000]
    assert _draft().files[f"{FLOW}.bpmn"] == xml
    download = owner.client.get(f"/processes/{FLOW}/download?version=draft")
    assert download.status_code == 200
    assert download.get_data(as_text=True) == xml
    assert 'filename="information_request-draft.bpmn"' in download.headers["Content-Disposition"]
    first = owner.client.get(f"/processes/{FLOW}/download?version=1")
    assert first.get_data(as_text=True) == _shipped_xml()
    for bad in ("7", "x", "99999999999999999999", "²"):
        assert owner.client.get(f"/processes/{FLOW}/download?version={bad}").status_code == 404


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (
            b"<?xml version='1.0'?><!DOCTYPE lolz [<!ENTITY lol 'lol'><!ENTITY lol2 '&lol;&lol;'>]><x>&lol2;</x>",
            "entities",
        ),
        (b"\xff\xfe not text", "UTF-8"),
        (b" " * (20 * 1024 * 1024 + 1), "2 MB"),
        (b" " * (3 * 1024 * 1024), "2 MB"),
    ],
)
def test_a_hostile_upload_is_refused_in_plain_words_and_changes_nothing(owner: Any, content: bytes, words: str) -> None:
    draft = _started(owner)
    response = owner.client.post(
        f"/processes/{FLOW}/upload",
        data={
            "csrf_token": owner.token(f"/processes/{FLOW}/edit"),
            "version": str(draft.version),
            "diagram": (io.BytesIO(content), "hostile.bpmn"),
        },
        content_type="multipart/form-data",
    )
    db.session.expire_all()
    page = response.get_data(as_text=True)
    assert response.status_code in (400, 413), page[:2000]
    if response.status_code == 400:
        assert "The file was not loaded" in page and words in html.unescape(page)
    else:
        # Larger than anything Compass takes in one request: refused before the page's code runs.
        assert "What you sent is too large" in page and "Nothing was saved" in page
    assert _draft().version == draft.version and _draft().files == draft.files


def test_deploying_needs_a_note_a_sound_draft_and_a_replay_of_exactly_it(owner: Any) -> None:
    draft = _started(owner)
    xml = _renamed(_shipped_xml(), "Check the records held")
    owner.post(f"/processes/{FLOW}/edit", {"xml": xml, "version": draft.version}, expect=200)
    version = _draft().version
    page = owner.post(f"/processes/{FLOW}/deploy", {"note": "", "version": version}, expect=400).get_data(as_text=True)
    assert "Say what this version changes" in page and "Replay the draft" in html.unescape(page)
    assert db.session.scalar(select(func.count()).select_from(ProcessBundle).where(ProcessBundle.flow == FLOW)) == 1

    owner.post(f"/processes/{FLOW}/replay", {"version": version}, expect=302)
    version = _draft().version
    page = owner.get(f"/processes/{FLOW}/deploy")
    assert "Replay again" in page
    response = owner.post(f"/processes/{FLOW}/deploy", {"note": "Clearer name for logging", "version": version})
    assert response.status_code == 302, response.get_data(as_text=True)[:3000]
    live = db.session.get(LiveBundle, FLOW)
    assert live is not None and live.bundle.number == 2
    assert live.bundle.note == "Clearer name for logging"
    assert live.bundle.created_by_id == user("process_owner").id
    assert live.bundle.files[f"{FLOW}.bpmn"] == xml
    assert process_versions.draft_of(FLOW) is None
    names = {e.name for e in db.session.scalars(select(AuditEvent))}
    assert {"PROCESS_DRAFT_REPLAYED", "BUNDLE_DEPLOYED", "BUNDLE_MADE_LIVE"} <= names


def test_a_changed_draft_must_be_replayed_again(owner: Any) -> None:
    draft = _started(owner)
    owner.post(f"/processes/{FLOW}/replay", {"version": draft.version}, expect=302)
    version = _draft().version
    xml = _renamed(_shipped_xml(), "Changed after the replay")
    owner.post(f"/processes/{FLOW}/edit", {"xml": xml, "version": version}, expect=200)
    page = owner.post(
        f"/processes/{FLOW}/deploy", {"note": "A note", "version": _draft().version}, expect=400
    ).get_data(as_text=True)
    assert "Replay the draft" in html.unescape(page)
    assert db.session.get(LiveBundle, FLOW).bundle.number == 1


def test_discarding_a_draft_leaves_the_live_version(owner: Any) -> None:
    draft = _started(owner)
    owner.post(f"/processes/{FLOW}/discard", {"version": draft.version}, expect=302)
    assert process_versions.draft_of(FLOW) is None
    assert db.session.get(LiveBundle, FLOW).bundle.number == 1
