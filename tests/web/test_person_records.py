"""A child's record: the adults around them as contacts recorded them, a warning when another record looks
like the same child, the two side by side, and a merge that keeps both histories and is on the record."""

from __future__ import annotations

import copy
import json

import pytest
from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import AuditEvent, CasePerson, Person
from app.services import bundles, contacts, people, person_records
from app.services.errors import Forbidden, NotSaved

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact/scenarios/s17_consent_given.json").read_text(encoding="utf-8")
)


def _contact(**changes: object) -> int:
    start = copy.deepcopy(SCENARIO["start"])
    start.update(changes)
    return contacts.record_contact(user("fpoc"), start).id


def _child(case_id: int) -> Person:
    row = db.session.scalar(select(CasePerson).where(CasePerson.case_id == case_id, CasePerson.role == "child"))
    return row.person


def test_the_adults_around_a_child_are_recorded_with_how_they_stand_to_them(web) -> None:
    case_id = _contact(
        household=[{"name": "Lee Lodger", "relationship": "Lodger"}],
        alleged_perpetrator={"name": "Max Harm", "relationship": "Mother's partner", "lives_with_child": True},
    )
    amy = _child(case_id)
    described = {(r.person.name, r.described_as, r.role) for r in person_records.relationships(amy.id)}
    assert described == {
        ("Pat Example", "Mother", "parent"),
        ("Lee Lodger", "Lodger", "household"),
        ("Max Harm", "Mother's partner", "alleged_perpetrator"),
    }
    ssw = web.login("ssw")
    page = ssw.get(f"/people/{amy.id}")
    assert "Lee Lodger" in page and "Alleged perpetrator" in page and "Mother&#39;s partner" in page
    case_page = ssw.get(f"/cases/{case_id}")
    assert "Max Harm" in case_page and "lives with the child" in case_page


def test_a_record_that_looks_like_another_is_offered_side_by_side_and_merged(web) -> None:
    first = _child(_contact())
    # Misheard on a later call, with the same date of birth: not linked by itself, but flagged.
    second = _child(
        _contact(children=[{**SCENARIO["start"]["children"][0], "name": "Amy Exampel", "postcode": "SY3 9ZZ"}])
    )
    assert first.id != second.id
    assert [c.person.id for c in person_records.possible_duplicates(first)] == [second.id]

    fpoc = web.login("fpoc")
    second_case = db.session.scalar(select(CasePerson.case_id).where(CasePerson.person_id == second.id))
    assert f'href="/people/{second.id}/compare/{first.id}"' in fpoc.get(f"/cases/{second_case}")
    page = fpoc.get(f"/people/{first.id}")
    assert "This may be the same child as another record" in page
    compare = fpoc.get(f"/people/{first.id}/compare/{second.id}")
    assert "Amy Exampel" in compare and "Are these the same child?" in compare
    assert "Merge Amy Exampel into Amy Example" not in compare  # a call handler may look, not merge
    fpoc.post(f"/people/{first.id}/compare/{second.id}", {}, expect=403)

    ssw = web.another().login("ssw")
    assert "Merge Amy Exampel into Amy Example" in ssw.get(f"/people/{first.id}/compare/{second.id}")
    response = ssw.post(f"/people/{first.id}/compare/{second.id}", {}, expect=302)
    page = ssw.get(response.headers["Location"])
    assert "The two records are now one" in page
    history = people.person_history(first.id)
    assert len(history.contacts) == 2  # both histories, on the one record
    db.session.expire_all()
    assert db.session.get(Person, second.id).merged_into_id == first.id
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "PERSON_MERGED"))
    assert event.data == {"person_id": first.id, "merged_person_id": second.id}
    # The merged record is no longer offered, and its old page leads to the record it joined.
    assert second.id not in [c.person.id for c in people.match_children("Amy Exampel", "2016-04-02")]
    old = ssw.client.get(f"/people/{second.id}")
    assert old.status_code == 302 and f"/people/{first.id}" in old.headers["Location"]
    ssw.post(f"/people/{first.id}/compare/{second.id}", {}, expect=409)


def test_merging_is_refused_to_those_who_may_not_and_for_the_same_record(fresh) -> None:
    first = _child(_contact())
    with pytest.raises(Forbidden):
        person_records.merge(user("coordinator"), first.id, first.id + 1)
    second = _child(
        _contact(children=[{**SCENARIO["start"]["children"][0], "name": "Amy Exampel", "postcode": "SY3 9ZZ"}])
    )
    person_records.merge(user("team_manager"), first.id, second.id)
    with pytest.raises(NotSaved):
        person_records.merge(user("ssw"), second.id, first.id)
