"""/domestic-abuse/new (a notification entered by hand) and /domestic-abuse/upload (the day's CSV file)."""

from __future__ import annotations

import io
import re

from sqlalchemy import func, select

from app.extensions import db
from app.models import Case, ProcessInstance, Task
from app.models.domestic_abuse import DaNotification

GOOD = {
    "police_reference": "DA/2026/000501",
    "incident_date-day": "23",
    "incident_date-month": "11",
    "incident_date-year": "2026",
    "incident_time": "21:40",
    "dash_risk": "medium",
    "dash_yes_count": "8",
    "marac": "no",
    "repeat_incident": "yes",
    "summary": "Neighbour called police to shouting; the children were in the next room.",
    "victim.name": "Jo Victim",
    "victim.address": "3 River Walk, Shrewsbury SY1 2AB",
    "victim.safe_to_write": "yes",
    "perpetrator.name": "Lee Partner",
    "children.0.name": "Ruby Victim",
    "children.0.date_of_birth-day": "11",
    "children.0.date_of_birth-month": "2",
    "children.0.date_of_birth-year": "2017",
    "children.0.school": "Castlefields Primary School",
    "children.0.school_email": "dsl@castlefields.example.sch.uk",
}


def _cases() -> int:
    return int(db.session.scalar(select(func.count()).select_from(Case)))


def test_a_coordinator_records_a_notification_by_hand_and_the_triage_starts(web) -> None:
    web.login("coordinator")
    page = web.get("/domestic-abuse/new")
    assert "Record a domestic abuse notification" in page and "Police DASH risk level" in page
    response = web.post("/domestic-abuse/new", GOOD, expect=302)
    case = db.session.scalar(select(Case))
    assert f"/cases/{case.id}" in response.headers["Location"]
    row = db.session.scalar(select(DaNotification))
    assert (row.police_reference, row.received_via, row.dash_risk, row.repeat) == (
        "DA/2026/000501",
        "hand",
        "medium",
        True,
    )
    assert db.session.scalar(select(ProcessInstance.flow).where(ProcessInstance.case_id == case.id)) == "da_triage"
    lanes = set(db.session.scalars(select(Task.lane).where(Task.case_id == case.id)))
    assert lanes == {"ssw", "health", "police"}
    page = web.get(response.headers["Location"])
    assert "Police domestic abuse notification received" in page and "DA/2026/000501" in page


def test_problems_are_listed_and_the_answers_kept(web) -> None:
    web.login("police")
    bad = {**GOOD, "dash_risk": "", "incident_date-month": "13", "children.0.name": ""}
    bad.pop("children.0.date_of_birth-day")
    response = web.post("/domestic-abuse/new", bad, expect=400)
    page = response.get_data(as_text=True)
    assert "There is a problem" in page and "govuk-error-summary" in page
    assert "Select the police DASH risk level" in page
    assert "Enter the date of the incident as a real date" in page
    assert "Add at least one child" in page or "Enter the child&#39;s full name" in page
    # What was typed is still there.
    assert 'value="DA/2026/000501"' in page and "Neighbour called police to shouting" in page
    assert _cases() == 0


def test_the_same_notification_sent_twice_is_recognised_and_a_clash_refused(web) -> None:
    web.login("coordinator")
    web.post("/domestic-abuse/new", GOOD, expect=302)
    again = web.post("/domestic-abuse/new", GOOD, expect=302)
    assert "already+received" in again.headers["Location"] or "already%20received" in again.headers["Location"]
    clash = web.post("/domestic-abuse/new", {**GOOD, "dash_risk": "high"}, expect=400)
    assert "was already received" in clash.get_data(as_text=True)
    assert _cases() == 1


def test_others_may_not_record_notifications(web) -> None:
    web.login("health")
    web.get("/domestic-abuse/new", expect=403)
    web.get("/domestic-abuse/upload", expect=403)


# --- The day's upload ----------------------------------------------------------------------------------------

HEADER = (
    "police_reference,incident_date,incident_time,dash_risk,marac,repeat,summary,victim_name,victim_address,"
    "victim_safe_to_write,perpetrator_name,child_1_name,child_1_date_of_birth,child_1_school,child_1_school_email,"
    "child_2_name,child_2_date_of_birth"
)


def _row(reference: str, **change: str) -> str:
    values = {
        "police_reference": reference,
        "incident_date": "2026-11-23",
        "incident_time": "22:10",
        "dash_risk": "standard",
        "marac": "no",
        "repeat": "no",
        "summary": "Shouting heard by a neighbour",
        "victim_name": "Jo Victim",
        "victim_address": '"3 River Walk, Shrewsbury"',
        "victim_safe_to_write": "yes",
        "perpetrator_name": "Lee Partner",
        "child_1_name": "Ruby Victim",
        "child_1_date_of_birth": "2017-02-11",
        "child_1_school": "Castlefields Primary School",
        "child_1_school_email": "dsl@castlefields.example.sch.uk",
        "child_2_name": "",
        "child_2_date_of_birth": "",
    }
    values.update(change)
    return ",".join(values[c] for c in HEADER.split(","))


def _upload(web, text: str, expect: int = 200) -> str:
    token = web.token("/domestic-abuse/upload")
    response = web.client.post(
        "/domestic-abuse/upload",
        data={"csrf_token": token, "file": (io.BytesIO(text.encode("utf-8")), "notifications.csv")},
        content_type="multipart/form-data",
    )
    db.session.expire_all()
    assert response.status_code == expect, response.get_data(as_text=True)[:2000]
    return response.get_data(as_text=True)


def _statuses(page: str) -> dict[int, str]:
    return {int(n): s for n, s in re.findall(r'data-row="(\d+)" data-status="(\w+)"', page)}


def test_each_row_is_recorded_or_refused_on_its_own_with_its_reason(web) -> None:
    web.login("police")
    rows = [
        _row("DA/2026/000601"),
        _row("DA/2026/000602", child_1_name="", child_1_date_of_birth="", child_1_school="", child_1_school_email=""),
        _row("DA/2026/000603", incident_date="23/11/2026"),
        _row("DA/2026/000604", dash_risk="extreme"),
        _row("DA/2026/000605", child_2_name="Sam Victim", child_2_date_of_birth="2023-05-30"),
        _row("DA/2026/000601", dash_risk="high"),  # the same reference as row 2, different details
    ]
    page = _upload(web, "\n".join([HEADER, *rows]) + "\n")
    assert _statuses(page) == {
        2: "accepted",
        3: "refused",
        4: "refused",
        5: "refused",
        6: "accepted",
        7: "refused",
    }
    assert "missing child" in page
    assert "bad date in incident_date: &#39;23/11/2026&#39;" in page
    assert "unknown risk level &#39;extreme&#39;" in page
    assert "duplicate police reference" in page
    references = set(db.session.scalars(select(DaNotification.police_reference)))
    assert references == {"DA/2026/000601", "DA/2026/000605"}
    # A refused row left nothing behind: one case per accepted row, each with its own running triage.
    assert _cases() == 2
    assert db.session.scalar(select(func.count()).select_from(ProcessInstance)) == 2
    two = db.session.scalar(select(DaNotification).where(DaNotification.police_reference == "DA/2026/000605"))
    assert [c.key for c in two.case.children] == ["child-1", "child-2"]
    assert all(n.received_via == "csv" for n in db.session.scalars(select(DaNotification)))


def test_a_file_uploaded_again_is_recognised_not_duplicated(web) -> None:
    web.login("coordinator")
    text = "\n".join([HEADER, _row("DA/2026/000701"), _row("DA/2026/000702")]) + "\n"
    assert _statuses(_upload(web, text)) == {2: "accepted", 3: "accepted"}
    again = _upload(web, text)
    assert _statuses(again) == {2: "recognised", 3: "recognised"}
    assert "already received" in again
    assert _cases() == 2


def test_a_file_that_cannot_be_read_is_refused_whole(web) -> None:
    web.login("coordinator")
    page = _upload(web, "reference,when\nDA/1,2026-11-23\n", expect=400)
    assert "unknown column(s): reference, when" in page and "govuk-error-summary" in page
    page = _upload(web, "", expect=400)
    assert "The file is empty" in page
    assert _cases() == 0


def test_the_joint_triage_is_worked_through_the_task_pages_by_three_agencies(web) -> None:
    from app.models import OutboxItem

    web.login("coordinator")
    web.post("/domestic-abuse/new", {**GOOD, "dash_risk": "high"}, expect=302)
    case = db.session.scalar(select(Case))
    tasks = {t.bpmn_id: t.id for t in db.session.scalars(select(Task).where(Task.case_id == case.id))}
    for role, bpmn_id in (("ssw", "social_care_check"), ("health", "health_check"), ("police", "police_check")):
        agency = web.another().login(role)
        assert "What your records show" in agency.get(f"/tasks/{tasks[bpmn_id]}")
        agency.post(f"/tasks/{tasks[bpmn_id]}", {"known": "no", "information": f"Nothing known to {role}."}, expect=302)
    (decision,) = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    assert decision.bpmn_id == "joint_decision"
    ssw = web.another().login("ssw")
    missing = ssw.post(
        f"/tasks/{decision.id}", [("agreed_risk", "high"), ("level", "4"), ("rationale", "High risk.")], expect=400
    )
    assert "Select which referral" in missing.get_data(as_text=True)
    ssw.post(
        f"/tasks/{decision.id}",
        [
            ("agreed_risk", "high"),
            ("risk_factors", "weapon"),
            ("risk_factors", "child_present"),
            ("level", "4"),
            ("threshold", "s47"),
            ("rationale", "A weapon was used with the children present."),
        ],
        expect=302,
    )
    child = db.session.get(Case, case.id).children[0]
    assert (child.outcome, child.threshold, child.handover) == ("progress_to_referral", "s47", "strategy_discussion")
    school = db.session.scalar(select(OutboxItem).where(OutboxItem.recipient_role == "school"))
    assert school is not None and school.address == "dsl@castlefields.example.sch.uk"
