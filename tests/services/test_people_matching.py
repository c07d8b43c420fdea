"""A child already known: a second contact about the same child links to the same person, and the
senior social worker sees the earlier contact beside the decision."""

import copy
import json

from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import CasePerson, Person, Task
from app.services import bundles, contacts, trays

SCENARIO = json.loads((bundles.PROCESSES_DIR / "initial_contact" / "scenarios" / "s17_consent_given.json").read_text())


def test_a_second_contact_about_the_same_child_finds_the_first(fresh) -> None:
    first = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    again = copy.deepcopy(SCENARIO["start"])
    again["children"][0]["name"] = "  amy   EXAMPLE "  # typed differently on the phone
    second = contacts.record_contact(user("coordinator"), again)

    people = db.session.scalars(select(Person).where(Person.name_key == "amy example")).all()
    assert len(people) == 1
    links = db.session.scalars(select(CasePerson).where(CasePerson.person_id == people[0].id)).all()
    assert sorted(cp.case_id for cp in links) == [first.id, second.id]

    context = trays.case_context(second.id)
    assert [e["case_reference"] for e in context.earlier["child-1"]] == [first.reference]
    task = db.session.scalar(select(Task).where(Task.case_id == second.id))
    assert task is not None and task.lane == "ssw"


def test_a_different_birthday_is_a_different_child(fresh) -> None:
    contacts.record_contact(user("fpoc"), SCENARIO["start"])
    other = copy.deepcopy(SCENARIO["start"])
    other["children"][0]["date_of_birth"] = "2017-04-02"
    second = contacts.record_contact(user("fpoc"), other)
    assert trays.case_context(second.id).earlier["child-1"] == []
