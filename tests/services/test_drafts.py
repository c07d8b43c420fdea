"""Drafts: a person's own unsent answers to one form, kept as they type, read back only by them."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from flask import Flask
from sqlalchemy import func, select
from support import user
from werkzeug.datastructures import MultiDict

from app.extensions import db
from app.models import AuditEvent, Draft, Task
from app.services import bundles, contacts, drafts, workflow
from app.services.errors import Forbidden, TaskConflict

TYPED = MultiDict(
    [
        ("how_received", "phone"),
        ("referrer.name", "Sam Teacher"),
        ("referrer.works_with_family", "yes"),
        ("children.0._item", "1"),
        ("children.0.name", "Amy Example"),
        ("children.0.date_of_birth-day", "2"),
        ("children.0.date_of_birth-month", "4"),
        ("children.0.date_of_birth-year", "2016"),
        ("children.1._item", "1"),
        ("children.1.name", "Ben Exa"),
        ("children.1.date_of_birth-day", "31"),
        ("children.1.date_of_birth-month", "2"),
        ("concern", "Amy said she is frightened to go home"),
    ]
)


def start_data() -> dict:
    path = bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json"
    return json.loads(path.read_text(encoding="utf-8"))["start"]


def a_review_task() -> Task:
    case = contacts.record_contact(user("fpoc"), start_data())
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_review"))
    assert task is not None
    return task


def test_a_contact_draft_keeps_the_fields_as_typed_without_judging_them(fresh: Flask) -> None:
    ssw = user("ssw")
    target = drafts.contact_target(ssw)
    saved = drafts.save(ssw, target, TYPED)
    found = drafts.read(ssw, target)
    assert found is not None and found.id == saved.id
    assert found.data == {
        "how_received": "phone",
        "referrer": {"name": "Sam Teacher", "works_with_family": True},
        # A real date becomes a date; a half-typed one is kept as its parts, to be shown again as typed.
        "children": [
            {"name": "Amy Example", "date_of_birth": "2016-04-02"},
            {"name": "Ben Exa", "date_of_birth": {"day": "31", "month": "2", "year": ""}},
        ],
        "concern": "Amy said she is frightened to go home",
        # Lists the form shows are there even when empty, as a post of the form reads them.
        "parents": [],
        "household": [],
    }
    assert found.kind == "contact" and found.task_id is None and found.form_id == "contact_intake"
    # A draft is a working copy, not a record: nothing is audited for it.
    assert db.session.scalar(select(func.count()).select_from(AuditEvent).where(AuditEvent.user_id == ssw.id)) == 0


def test_a_later_save_replaces_the_draft_and_discarding_removes_it(fresh: Flask) -> None:
    ssw = user("ssw")
    target = drafts.contact_target(ssw)
    drafts.save(ssw, target, TYPED)
    drafts.save(ssw, target, MultiDict([("concern", "Rewritten after the call")]))
    rows = db.session.scalars(select(Draft)).all()
    assert len(rows) == 1 and rows[0].data["concern"] == "Rewritten after the call"
    assert rows[0].data["children"] == []
    drafts.discard(ssw, drafts.contact_key(None))
    assert drafts.read(ssw, target) is None
    assert db.session.scalar(select(func.count()).select_from(Draft)) == 0


def test_each_person_sees_only_their_own_draft(fresh: Flask) -> None:
    ssw, coordinator = user("ssw"), user("coordinator")
    drafts.save(ssw, drafts.contact_target(ssw), TYPED)
    assert drafts.read(coordinator, drafts.contact_target(coordinator)) is None
    drafts.save(coordinator, drafts.contact_target(coordinator), MultiDict([("concern", "Another call")]))
    mine, theirs = (
        drafts.read(ssw, drafts.contact_target(ssw)),
        drafts.read(coordinator, drafts.contact_target(coordinator)),
    )
    assert mine is not None and mine.data["concern"] == "Amy said she is frightened to go home"
    assert theirs is not None and theirs.data["concern"] == "Another call"
    # Discarding one person's draft leaves the other's.
    drafts.discard(coordinator, drafts.contact_key(None))
    assert drafts.read(ssw, drafts.contact_target(ssw)) is not None


def test_a_new_contact_and_a_reopening_keep_separate_drafts(fresh: Flask) -> None:
    ssw = user("ssw")
    drafts.save(ssw, drafts.contact_target(ssw), MultiDict([("concern", "New call")]))
    drafts.save(ssw, drafts.contact_target(ssw, reopens=7), MultiDict([("concern", "Re-opening")]))
    assert drafts.read(ssw, drafts.contact_target(ssw)).data["concern"] == "New call"
    assert drafts.read(ssw, drafts.contact_target(ssw, reopens=7)).data["concern"] == "Re-opening"


def test_only_those_who_record_contacts_keep_a_contact_draft(fresh: Flask) -> None:
    with pytest.raises(Forbidden):
        drafts.contact_target(user("police"))


def test_a_draft_over_the_size_limit_is_refused(fresh: Flask) -> None:
    ssw = user("ssw")
    target = drafts.contact_target(ssw)
    drafts.save(ssw, target, MultiDict([("concern", "x" * (drafts.MAX_BYTES - 100))]))  # just under: kept
    with pytest.raises(drafts.DraftTooLarge):
        drafts.save(ssw, target, MultiDict([("concern", "x" * (drafts.MAX_BYTES + 1))]))
    kept = drafts.read(ssw, target)
    assert kept is not None and len(kept.data["concern"]) == drafts.MAX_BYTES - 100


def test_a_task_draft_is_only_for_someone_who_may_act_on_the_task(fresh: Flask) -> None:
    task = a_review_task()
    ssw = user("ssw")
    target = drafts.task_target(ssw, task.id)
    drafts.save(ssw, target, MultiDict([("next_step", "more_information"), ("question", "Who collects A")]))
    found = drafts.read(ssw, target)
    assert found is not None and found.task_id == task.id and found.form_id == "ssw_review"
    assert found.data == {"next_step": "more_information", "question": "Who collects A"}
    for role in ("police", "fpoc", "partner"):
        with pytest.raises(Forbidden):
            drafts.task_target(user(role), task.id)


def test_no_draft_is_kept_for_a_task_already_completed(fresh: Flask) -> None:
    task = a_review_task()
    ssw = user("ssw")
    drafts.save(ssw, drafts.task_target(ssw, task.id), MultiDict([("next_step", "decide")]))
    workflow.complete_task(ssw, task.id, {"next_step": "decide"})
    with pytest.raises(TaskConflict):
        drafts.task_target(ssw, task.id)
    # The next save anywhere drops the draft of the task that is no longer waiting.
    drafts.save(ssw, drafts.contact_target(ssw), MultiDict([("concern", "Next call")]))
    assert db.session.scalars(select(Draft.key)).all() == ["contact:new"]


def test_a_draft_older_than_thirty_days_is_not_offered_back(fresh: Flask) -> None:
    ssw = user("ssw")
    target = drafts.contact_target(ssw)
    start = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        drafts.save(ssw, target, TYPED)
    with time_machine.travel(start + drafts.KEEP_FOR - timedelta(minutes=1), tick=False):
        assert drafts.read(ssw, target) is not None
    with time_machine.travel(start + drafts.KEEP_FOR + timedelta(minutes=1), tick=False):
        assert drafts.read(ssw, target) is None


def test_a_save_still_on_its_way_from_a_sent_form_does_not_bring_the_draft_back(fresh: Flask) -> None:
    ssw = user("ssw")
    target = drafts.contact_target(ssw)
    drafts.save(ssw, target, TYPED, page_id="page-1")
    drafts.discard(ssw, target.key, page_id="page-1")  # page-1 sent its form
    assert drafts.read(ssw, target) is None
    with pytest.raises(drafts.DraftClosed):
        drafts.save(ssw, target, TYPED, page_id="page-1")
    assert drafts.read(ssw, target) is None
    # A fresh page of the same form starts a draft again.
    drafts.save(ssw, target, MultiDict([("concern", "The next call")]), page_id="page-2")
    assert drafts.read(ssw, target).data["concern"] == "The next call"


def test_restoring_a_task_draft_takes_read_only_answers_from_the_task() -> None:
    schema = {
        "type": "object",
        "properties": {
            "child": {"type": "string", "readOnly": True},
            "question": {"type": "string"},
            "answer": {"type": "string"},
        },
    }
    target = drafts.Target("task", "task:t", "f", schema, task_id="t")
    draft = Draft(data={"question": "Typed in the draft"})
    current = {"child": "Amy Example", "question": "What the task held", "answer": "Cleared in the draft"}
    assert drafts.restored(target, draft, current) == {"child": "Amy Example", "question": "Typed in the draft"}
