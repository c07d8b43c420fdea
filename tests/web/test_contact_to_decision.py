"""A call handler records a contact about two children and a senior social worker decides it, through the
views with the test client, exactly as the browser would post the forms."""

import re

from sqlalchemy import select

from app.extensions import db
from app.models import AuditEvent, Case, OutboxItem, Task

CONTACT = [
    ("how_received", "marf"),
    ("request_type", "concern"),
    ("referrer.name", "Sam Teacher"),
    ("referrer.kind", "professional"),
    ("referrer.role", "Class teacher"),
    ("referrer.agency", "Oak Primary School"),
    ("referrer.email", "s.teacher@oak.example"),
    ("referrer.works_with_family", "yes"),
    ("referrer.agrees_to_be_named", "no"),
    ("children.0._item", "1"),
    ("children.0.name", "Amy Example"),
    ("children.0.date_of_birth-day", "2"),
    ("children.0.date_of_birth-month", "4"),
    ("children.0.date_of_birth-year", "2016"),
    ("children.0.sex", "female"),
    ("children.1._item", "1"),
    ("children.1.name", "Ben Example"),
    ("children.1.date_of_birth-day", "30"),
    ("children.1.date_of_birth-month", "9"),
    ("children.1.date_of_birth-year", "2021"),
    ("children.1.sex", "male"),
    ("parents.0._item", "1"),
    ("parents.0.name", "Pat Example"),
    ("parents.0.relationship", "Mother"),
    ("parents.0.parental_responsibility", "yes"),
    ("parents.0.address", "1 High Street, Shrewsbury SY1 1AA"),
    ("parents.0.safe_to_write", "yes"),
    ("concern", "Amy said she is frightened to go home; Ben was seen with a bruise."),
    ("immediate_protection", "no"),
    ("referrer_view", "3"),
    ("consent", "given"),
    ("marf_received", "yes"),
    ("disabled_childrens_team", "no"),
    ("allegation", "no"),
    ("fire_risk", "no"),
    ("fire_setting", "no"),
]


def review_each_child(web, case_id: int) -> dict[str, str]:
    """The senior social worker reviews each child's contact and has enough to decide: the decision tasks."""
    tray = web.get("/tasks")
    links = re.findall(r'href="/tasks/([0-9a-f-]{36})">Review the contact: (\w+ Example)', tray)
    assert sorted(name for _, name in links) == ["Amy Example", "Ben Example"]
    for task_id, _name in links:
        web.post(f"/tasks/{task_id}", [("next_step", "decide")], expect=302)
    tray = web.get("/tasks")
    links = re.findall(r'href="/tasks/([0-9a-f-]{36})">Decide threshold and outcome: (\w+ Example)', tray)
    assert sorted(name for _, name in links) == ["Amy Example", "Ben Example"]
    return {name: task_id for task_id, name in links}


def test_record_a_contact_about_two_children_then_decide_each(web) -> None:
    web.login("fpoc")
    response = web.post("/contacts/new", CONTACT, expect=302)
    case_url = response.headers["Location"]
    case_id = int(re.search(r"/cases/(\d+)", case_url).group(1))
    page = web.get(case_url)
    assert "Amy Example" in page and "Ben Example" in page and "Pending" in page

    # The call handler has no decision task; the senior social worker has one per child.
    assert "Decide threshold and outcome" not in web.get("/tasks")
    web.client.post("/logout", data={"csrf_token": web.token("/tasks")})
    web.login("ssw")
    by_child = review_each_child(web, case_id)

    # The decision is made beside the concern as it was reported; the questions that belong to one
    # threshold are revealed under it (the outcome under "below early help", telling the parents under s47).
    task_page = web.get(f"/tasks/{by_child['Amy Example']}")
    assert "Amy said she is frightened to go home" in task_page
    s47_reveal = task_page[task_page.index('id="conditional-threshold-4"') :]
    assert 'name="parents_told"' in s47_reveal[: s47_reveal.index("</fieldset>")]
    below_reveal = task_page[task_page.index('id="conditional-threshold"') :]
    assert 'name="outcome"' in below_reveal[: below_reveal.index("</select>")]

    # A decision without its rationale is refused, with the answers kept.
    form = web.post(f"/tasks/{by_child['Amy Example']}", [("threshold", "s17")], expect=400).get_data(as_text=True)
    assert "There is a problem" in form and "Give the reason for your decision" in form
    assert 'value="s17" checked' in form

    web.post(
        f"/tasks/{by_child['Amy Example']}",
        [("threshold", "early_help"), ("rationale", "Amy's worries are met by early help; mother consents.")],
        expect=302,
    )
    web.post(
        f"/tasks/{by_child['Ben Example']}",
        [
            ("threshold", "s47"),
            ("parents_told", "obstruct_police"),
            ("rationale", "An unexplained bruise on a child under three: significant harm, strategy discussion."),
        ],
        expect=302,
    )
    page = web.get(f"/cases/{case_id}")
    assert "Referral to other agency" in page  # Amy: to the Early Help hub
    assert "Progress to referral" in page and "Handed over to Strategy discussion" in page  # Ben
    assert "Decide threshold and outcome: Ben Example" in page  # on the timeline
    assert "An unexplained bruise on a child under three" in page  # the rationale, on the timeline
    # Ben's parents are not to be told (it would obstruct a police investigation): no letter goes to them.
    letters = db.session.scalars(select(OutboxItem).where(OutboxItem.case_id == case_id)).all()
    assert [(i.template, i.recipient_role) for i in letters] == [("referrer_outcome", "referrer")]
    letter_page = web.get(f"/cases/{case_id}/letters/{letters[0].id}")
    assert "Sam Teacher" in letter_page and "Amy Example" in letter_page
    # The contact's own work is done; what is left is Ben's strategy discussion, a flow of its own.
    assert {t.flow for t in db.session.scalars(select(Task).where(Task.case_id == case_id))} == {"strategy_discussion"}
    assert db.session.get(Case, case_id).status == "open"
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.name == "CASE_VIEWED", AuditEvent.case_id == case_id))


def test_a_contact_with_mistakes_is_shown_again_with_everything_typed(web) -> None:
    web.login("fpoc")
    bad = [(k, v) for k, v in CONTACT if k not in ("concern",)]
    bad = [(k, "31" if k == "children.1.date_of_birth-day" else v) for k, v in bad]
    bad = [(k, "2" if k == "children.1.date_of_birth-month" else v) for k, v in bad]
    page = web.post("/contacts/new", bad, expect=400).get_data(as_text=True)
    assert "There is a problem" in page
    assert "must be a real date" in page
    assert 'href="#concern"' in page
    assert 'value="Ben Example"' in page and 'value="31"' in page
    assert db.session.scalar(select(Case)) is None  # nothing half-written


def test_the_second_person_to_complete_a_task_is_told_who_did_and_keeps_their_answers(web) -> None:
    web.login("fpoc")
    web.post("/contacts/new", CONTACT, expect=302)
    task_id = db.session.scalars(select(Task.id).where(Task.bpmn_id == "ssw_review")).first()
    first = web.another().login("ssw")
    second = web.another().login("ssw")
    token = second.token(f"/tasks/{task_id}")
    answers = [("next_step", "more_information"), ("ask_whom", "referrer")]
    first.post(f"/tasks/{task_id}", [*answers, ("question", "How often is Amy late?")], expect=302)
    late = second.client.post(
        f"/tasks/{task_id}",
        data=dict([*answers, ("question", "My own careful words about this child."), ("csrf_token", token)]),
    )
    assert late.status_code == 409
    page = late.get_data(as_text=True)
    assert "completed by Demo senior social worker" in page
    assert "My own careful words about this child." in page


def test_csrf_is_required(web) -> None:
    web.login("fpoc")
    response = web.client.post("/contacts/new", data=dict(CONTACT))
    assert response.status_code == 400
    assert "session has expired" in response.get_data(as_text=True)


def test_sign_in_failure_is_plain_and_audited(web) -> None:
    page = web.post("/login", {"username": "demo.ssw", "password": "wrong"}, expect=400).get_data(as_text=True)
    assert "The username or password is not right" in page
    assert db.session.scalar(select(AuditEvent).where(AuditEvent.name == "USER_LOGIN_FAILED")) is not None


def test_a_partner_cannot_open_a_case_it_has_no_part_in(web) -> None:
    web.login("fpoc")
    response = web.post("/contacts/new", CONTACT, expect=302)
    case_url = response.headers["Location"]
    police = web.another().login("police")
    police.get(case_url, expect=403)
    admin = web.another().login("admin")
    admin.get(case_url, expect=403)


def test_the_decision_is_made_beside_the_answers_asked_for_and_what_is_open(web) -> None:
    from support import user

    from app.services import contacts, records_import, workflow

    records_import.import_rows(
        [
            (
                2,
                {
                    "external_id": "TEH-4",
                    "kind": "targeted_early_help",
                    "status": "open",
                    "name": "Amy Example",
                    "date_of_birth": "2016-04-02",
                    "started_on": "2026-09-01",
                    "worker_name": "Lee Lead",
                },
            )
        ],
        source="test",
    )
    case = contacts.record_contact(user("fpoc"), _start_data())
    for bpmn_id, role, data in [
        (
            "ssw_review",
            "ssw",
            {"next_step": "more_information", "ask_whom": "referrer", "question": "Who collects Amy?"},
        ),
        ("request_information", "coordinator", {"answer_received": True, "answer": "Her uncle, most days."}),
        ("ssw_review", "ssw", {"next_step": "decide"}),
    ]:
        task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == bpmn_id))
        workflow.complete_task(user(role), task.id, data)
    decision = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_decision"))
    page = web.login("ssw").get(f"/tasks/{decision.id}")
    context = page[page.index('<aside class="compass-context"') :]
    assert "Who collects Amy?" in context and "Her uncle, most days." in context
    assert "Targeted early help (lead professional): Lee Lead" in context


def _start_data() -> dict:
    import json

    from app.services import bundles

    path = bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json"
    return json.loads(path.read_text(encoding="utf-8"))["start"]
