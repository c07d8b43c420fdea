"""People search: a child is found when their name is misspelt, only partly known, or their date of birth is
known only to the year; each candidate says why it may be them. Only a strong match is linked without asking."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import Case, CasePerson, Person, PersonNamePart
from app.services import people


def child(name: str, dob: str | None, postcode: str | None = None, address: str | None = None) -> Person:
    person = people.find_or_create_child(name, dob, postcode=postcode, address=address)
    db.session.commit()
    return person


def found(name: str, dob: str | None = None, postcode: str | None = None) -> list[tuple[str, list[str]]]:
    return [(c.person.name, c.reasons) for c in people.match_children(name, dob, postcode)]


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("Smith", "Smyth"),
        ("John", "Jon"),
        ("Catherine", "Katherine"),
        ("Phoebe", "Febe"),
        ("Mohammed", "Muhammad"),
        ("Hughes", "Hughs"),
    ],
)
def test_names_spelt_differently_sound_the_same(one: str, other: str) -> None:
    assert people.name_sound(one) == people.name_sound(other)


@pytest.mark.parametrize(("one", "other"), [("Smith", "Jones"), ("Amy", "Emma"), ("Leo", "Noah")])
def test_different_names_sound_different(one: str, other: str) -> None:
    assert people.name_sound(one) != people.name_sound(other)


@pytest.mark.parametrize("typed", ["SY1 2BQ", "sy12bq", "  Sy1   2bq ", "SY1-2BQ"])
def test_a_postcode_is_written_one_way(typed: str) -> None:
    assert people.normalise_postcode(typed) == "SY1 2BQ"


@pytest.mark.parametrize("typed", ["", "not a postcode", "12345", "SY1"])
def test_what_is_not_a_postcode_is_none(typed: str) -> None:
    assert people.normalise_postcode(typed) is None


def test_a_misspelt_surname_finds_the_child(fresh) -> None:
    child("John Smith", "2015-03-14")
    child("Amy Jones", "2015-03-14")
    assert found("John Smyth") == [("John Smith", [people.SOUNDS_ALIKE])]


def test_a_misspelt_first_name_finds_the_child(fresh) -> None:
    child("John Smith", "2015-03-14")
    (best, *_rest) = people.match_children("Jon Smith")
    assert best.person.name == "John Smith" and best.reasons == [people.SOUNDS_ALIKE]


def test_the_exact_name_ranks_above_one_that_only_sounds_alike(fresh) -> None:
    child("Jon Smyth", "2014-01-01")
    child("John Smith", "2016-01-01")
    ranked = people.match_children("John Smith")
    assert [c.person.name for c in ranked] == ["John Smith", "Jon Smyth"]
    assert ranked[0].reasons == [people.EXACT_NAME]
    assert ranked[0].score > ranked[1].score


def test_a_first_name_only_finds_the_child_as_a_partial_name(fresh) -> None:
    child("Amelia Rose Jones", "2016-06-01")
    child("Oliver Jones", "2016-06-01")
    assert found("Amelia") == [("Amelia Rose Jones", [people.PARTIAL_NAME])]


def test_a_surname_only_finds_every_child_of_that_name(fresh) -> None:
    child("Amelia Jones", "2016-06-01")
    child("Oliver Jones", "2012-02-02")
    child("Oliver Smith", "2012-02-02")
    assert sorted(name for name, _ in found("Jones")) == ["Amelia Jones", "Oliver Jones"]


def test_initials_and_the_start_of_a_name_find_the_child(fresh) -> None:
    child("Alexander Hughes", "2013-09-09")
    child("Ruby Price", "2013-09-09")
    assert found("A H") == [("Alexander Hughes", [people.PARTIAL_NAME])]
    assert found("Alex Hughes") == [("Alexander Hughes", [people.PARTIAL_NAME])]


def test_a_surname_given_first_is_still_the_exact_name(fresh) -> None:
    child("Amy Example", "2016-06-01")
    assert found("Example Amy") == [("Amy Example", [people.EXACT_NAME])]


def test_a_date_of_birth_tells_two_children_of_one_name_apart(fresh) -> None:
    child("John Smith", "2012-05-05")
    child("John Smith", "2015-03-14")
    ranked = people.match_children("John Smith", "2015-03-14")
    assert [c.person.date_of_birth.isoformat() for c in ranked] == ["2015-03-14", "2012-05-05"]
    assert ranked[0].reasons == [people.EXACT_NAME, people.SAME_DOB]
    assert ranked[1].reasons == [people.EXACT_NAME]


@pytest.mark.parametrize(
    ("dob", "reason"),
    [("2015", people.SAME_YEAR), ("2015-03", people.SAME_MONTH), ("2015-03-14", people.SAME_DOB)],
)
def test_a_partial_date_of_birth_counts_for_what_it_says(fresh, dob: str, reason: str) -> None:
    child("John Smith", "2015-03-14")
    child("John Smith", "2011-07-30")
    (best, other) = people.match_children("John Smith", dob)
    assert best.person.date_of_birth.isoformat() == "2015-03-14"
    assert best.reasons == [people.EXACT_NAME, reason]
    assert other.reasons == [people.EXACT_NAME]


def test_a_day_out_still_shares_the_month(fresh) -> None:
    child("John Smith", "2015-03-14")
    (best,) = people.match_children("John Smith", "2015-03-15")
    assert best.reasons == [people.EXACT_NAME, people.SAME_MONTH]


@pytest.mark.parametrize("typed", ["SY1 2BQ", "sy12bq", " sy1 2BQ "])
def test_the_postcode_counts_however_it_is_typed(fresh, typed: str) -> None:
    child("John Smith", "2015-03-14", postcode="sy1 2bq")
    child("John Smith", "2012-05-05", postcode="SY3 8HQ")
    (best, other) = people.match_children("John Smith", postcode=typed)
    assert best.person.postcode == "SY1 2BQ"
    assert best.reasons == [people.EXACT_NAME, people.SAME_POSTCODE]
    assert other.reasons == [people.EXACT_NAME]


def test_a_name_that_matches_nothing_is_offered_only_on_both_birthday_and_postcode(fresh) -> None:
    child("Kayden Brooks", "2015-03-14", postcode="SY1 2BQ")
    child("Ruby Price", "2015-03-14", postcode="SY3 8HQ")
    assert found("Zara Quinn", "2015-03-14") == []
    assert found("Zara Quinn", "2015-03-14", "SY1 2BQ") == [("Kayden Brooks", [people.SAME_DOB, people.SAME_POSTCODE])]


def test_without_a_name_the_details_given_narrow_the_search(fresh) -> None:
    child("Kayden Brooks", "2015-03-14", postcode="SY1 2BQ")
    child("Ruby Price", "2015-03-02", postcode="SY3 8HQ")
    child("Leo Carter", "2016-03-14", postcode="SY1 2BQ")
    assert sorted(name for name, _ in found("", "2015-03")) == ["Kayden Brooks", "Ruby Price"]
    assert found("", "2015-03", "sy12bq") == [("Kayden Brooks", [people.SAME_MONTH, people.SAME_POSTCODE])]


def test_parents_and_referrers_are_not_offered_as_children(fresh) -> None:
    people.new_person("John Smith")
    db.session.commit()
    assert found("John Smith") == []


def test_the_limit_holds(fresh) -> None:
    for year in range(2005, 2017):
        child("John Smith", f"{year}-01-01")
    assert len(people.match_children("John Smith", limit=5)) == 5


def test_only_a_strong_match_links_a_contact_to_a_known_child(fresh) -> None:
    known = child("John Smith", "2015-03-14", postcode="SY1 2BQ")
    assert child("  JOHN   smith ", "2015-03-14").id == known.id  # the same name and birthday
    assert child("Jon Smyth", "2015-03-14", postcode="sy12bq").id == known.id  # sounds alike, same birthday and home
    assert child("Jon Smyth", "2015-03-14").id != known.id  # sounds alike and same birthday only: ask a person
    assert child("John Smith", "2015-03-15", postcode="SY1 2BQ").id != known.id
    assert child("John Smith", None).id != known.id
    assert db.session.scalar(select(func.count()).select_from(Person)) == 4


def test_a_new_child_keeps_their_postcode_and_address_and_a_known_one_gains_them(fresh) -> None:
    first = child("Ava Thompson", "2015-03-14")
    assert first.postcode is None
    again = child("Ava Thompson", "2015-03-14", postcode="sy1 2bq", address="12 Castle Street")
    assert again.id == first.id and again.postcode == "SY1 2BQ" and again.address == "12 Castle Street"
    moved = child("Ava Thompson", "2015-03-14", postcode="SY3 8HQ", address="1 Other Road")
    assert moved.postcode == "SY1 2BQ" and moved.address == "12 Castle Street"
    assert child("Mia Roberts", "2016-11-23", postcode="not one").postcode is None


def test_children_recorded_before_search_existed_are_found_after_reindexing(fresh) -> None:
    contact_child = child("Ruby Hughes", "2014-02-11")
    db.session.execute(PersonNamePart.__table__.delete())
    db.session.commit()
    assert found("Ruby Hughes") == []
    case = Case(reference="T-1", source="phone", created_by_id=user("fpoc").id)
    db.session.add(case)
    db.session.add(CasePerson(case=case, person=contact_child, key="child-1", role="child"))
    db.session.commit()
    assert people.reindex_names() == 1
    assert found("Ruby Hughes") == [("Ruby Hughes", [people.EXACT_NAME])]
