"""The children in need census return: children with a referral accepted in the period, made through the flows
themselves (a senior social worker's s17 decision with consent, a s47 decision and its strategy discussion),
written as the DfE's XML and checked with the DfE's own rules package."""

from __future__ import annotations

import copy
import json
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
import pytest
import time_machine
from flows import run_scenario
from lxml import etree
from sqlalchemy import select
from support import SCENARIO_START, user

from app.extensions import db
from app.models import AuditEvent, Person
from app.services import bundles, case_actions, census, periods

CENSUS_YEAR = census.Period(date(2026, 4, 1), date(2027, 3, 31))
# When the return is made: after the census year, at 10:30 in London (British Summer Time).
EXPORTED_AT = datetime(2027, 4, 6, 9, 30, tzinfo=UTC)


def scenario(flow: str, name: str) -> dict[str, Any]:
    path = bundles.PROCESSES_DIR / flow / "scenarios" / f"{name}.json"
    return json.loads(path.read_text(encoding="utf-8"))


def referral(
    name: str,
    *,
    born: str | None,
    sex: str | None,
    source: str,
    outcome: str = "assessment",
    due: str | None = None,
    disability: str | None = None,
    start: datetime = SCENARIO_START,
) -> int:
    """A contact about one child, accepted as a s17 referral with consent and given its outcome; the case id."""
    found = scenario("initial_contact", "s17_consent_given")
    child: dict[str, Any] = {"name": name, "address": "1 High Street, Shrewsbury", "postcode": "SY1 1AA"}
    child |= {
        k: v for k, v in {"date_of_birth": born, "sex": sex, "due_date": due, "disability": disability}.items() if v
    }
    found["start"]["children"] = [child]
    found["start"]["referrer"]["source"] = source
    next(s for s in found["steps"] if s.get("task") == "referral_outcome")["data"]["referral_outcome"] = outcome
    found["expect"] = {}
    result = run_scenario(found, start)
    assert result.mismatches == [], result.mismatches
    return result.case_id


def s47_referral(name: str, *, born: str, sex: str, source: str) -> int:
    """A contact decided s47 at once, and the strategy discussion the next day that starts the enquiry."""
    found = scenario("strategy_discussion", "s47_and_police_investigation_chaired_by_the_senior_social_worker")
    child = found["start"]["children"][0]
    child |= {"name": name, "date_of_birth": born, "sex": sex}
    found["start"]["referrer"]["source"] = source
    found["expect"] = {}
    result = run_scenario(found)
    assert result.mismatches == [], result.mismatches
    return result.case_id


def person_id(name: str) -> int:
    found = db.session.scalar(select(Person.id).where(Person.name == name))
    assert found is not None, name
    return found


def made(period: census.Period = CENSUS_YEAR) -> census.Census:
    with time_machine.travel(EXPORTED_AT, tick=False):
        return census.export(period)


def the_known_set() -> dict[str, int]:
    """Three children referred in the census year 2026 to 2027, one contact voided, one referral the year before."""
    amy = referral("Amy Example", born="2016-04-02", sex="female", source="2A")
    ben = referral("Ben Police", born="2022-01-10", sex="male", source="6", outcome="no_further_action")
    cal = s47_referral("Cal Strategy", born="2021-10-05", sex="male", source="3A")
    voided = referral("Dee Voided", born="2015-05-05", sex="female", source="1A")
    case_actions.void(user("ssw"), voided, "Recorded against the wrong family by mistake")
    referral("Eve Earlier", born="2014-02-02", sex="female", source="8", start=datetime(2026, 3, 20, 11, 0, tzinfo=UTC))
    return {"amy": amy, "ben": ben, "cal": cal}


def test_the_return_for_a_known_set_of_referrals(fresh) -> None:
    the_known_set()
    amy, ben, cal = (census.la_child_id(person_id(n)) for n in ("Amy Example", "Ben Police", "Cal Strategy"))
    assert (amy, ben, cal) == tuple(sorted((amy, ben, cal))), "the people were made in this order"
    result = made()
    assert (len(result.children), result.referral_count) == (3, 3)
    assert result.xml.decode("utf-8") == (
        "<?xml version='1.0' encoding='UTF-8'?>\n"
        "<Message>\n"
        "  <Header>\n"
        "    <CollectionDetails>\n"
        "      <Collection>CIN</Collection>\n"
        "      <Year>2027</Year>\n"
        "      <ReferenceDate>2027-03-31</ReferenceDate>\n"
        "    </CollectionDetails>\n"
        "    <Source>\n"
        "      <SourceLevel>L</SourceLevel>\n"
        "      <LEA>893</LEA>\n"
        "      <SoftwareCode>Compass</SoftwareCode>\n"
        "      <DateTime>2027-04-06T10:30:00</DateTime>\n"
        "    </Source>\n"
        "  </Header>\n"
        "  <Children>\n"
        "    <Child>\n"
        "      <ChildIdentifiers>\n"
        f"        <LAchildID>{amy}</LAchildID>\n"
        "        <PersonBirthDate>2016-04-02</PersonBirthDate>\n"
        "        <Sex>F</Sex>\n"
        "      </ChildIdentifiers>\n"
        "      <ChildCharacteristics>\n"
        "        <Ethnicity>NOBT</Ethnicity>\n"
        "        <Disabilities>\n"
        "          <Disability>NONE</Disability>\n"
        "        </Disabilities>\n"
        "      </ChildCharacteristics>\n"
        "      <CINdetails>\n"
        "        <CINreferralDate>2026-11-24</CINreferralDate>\n"
        "        <ReferralSource>2A</ReferralSource>\n"
        "        <PrimaryNeedCode>N0</PrimaryNeedCode>\n"
        "        <ReferralNFA>false</ReferralNFA>\n"
        "      </CINdetails>\n"
        "    </Child>\n"
        "    <Child>\n"
        "      <ChildIdentifiers>\n"
        f"        <LAchildID>{ben}</LAchildID>\n"
        "        <UPNunknown>UN7</UPNunknown>\n"
        "        <PersonBirthDate>2022-01-10</PersonBirthDate>\n"
        "        <Sex>M</Sex>\n"
        "      </ChildIdentifiers>\n"
        "      <ChildCharacteristics>\n"
        "        <Ethnicity>NOBT</Ethnicity>\n"
        "        <Disabilities>\n"
        "          <Disability>NONE</Disability>\n"
        "        </Disabilities>\n"
        "      </ChildCharacteristics>\n"
        "      <CINdetails>\n"
        "        <CINreferralDate>2026-11-24</CINreferralDate>\n"
        "        <ReferralSource>6</ReferralSource>\n"
        "        <ReferralNFA>true</ReferralNFA>\n"
        "      </CINdetails>\n"
        "    </Child>\n"
        "    <Child>\n"
        "      <ChildIdentifiers>\n"
        f"        <LAchildID>{cal}</LAchildID>\n"
        "        <UPNunknown>UN1</UPNunknown>\n"
        "        <PersonBirthDate>2021-10-05</PersonBirthDate>\n"
        "        <Sex>M</Sex>\n"
        "      </ChildIdentifiers>\n"
        "      <ChildCharacteristics>\n"
        "        <Ethnicity>NOBT</Ethnicity>\n"
        "        <Disabilities>\n"
        "          <Disability>NONE</Disability>\n"
        "        </Disabilities>\n"
        "      </ChildCharacteristics>\n"
        "      <CINdetails>\n"
        "        <CINreferralDate>2026-11-24</CINreferralDate>\n"
        "        <ReferralSource>3A</ReferralSource>\n"
        "        <PrimaryNeedCode>N0</PrimaryNeedCode>\n"
        "        <Section47>\n"
        "          <S47ActualStartDate>2026-11-25</S47ActualStartDate>\n"
        "          <InitialCPCtarget>2026-12-16</InitialCPCtarget>\n"
        "          <ICPCnotRequired>false</ICPCnotRequired>\n"
        "        </Section47>\n"
        "        <ReferralNFA>false</ReferralNFA>\n"
        "      </CINdetails>\n"
        "    </Child>\n"
        "  </Children>\n"
        "</Message>\n"
    )


def test_the_dfe_rules_find_no_error_in_complete_records(fresh) -> None:
    the_known_set()
    checked = census.check(made().xml)
    assert checked.unavailable is None
    assert checked.ruleset == "cin2026_27"
    assert [(f.code, f.la_child_id) for f in checked.errors] == []
    assert [f for f in checked.findings if f.kind == "not_run"] == []
    cal = census.la_child_id(person_id("Cal Strategy"))
    amy = census.la_child_id(person_id("Amy Example"))
    # What the rules query is what the front door cannot know: the conference and assessment that follow a
    # s47 decision, a school-age child's UPN, and the spread of disability codes across a whole council.
    assert sorted((f.code, f.la_child_id) for f in checked.findings) == sorted(
        [
            ("2991Q", cal),
            ("8675Q", cal),
            ("8770Q", amy),
            ("2887Q", None),
        ]
    )
    assert {f.kind for f in checked.findings} == {"query"}


def test_a_child_with_no_date_of_birth_is_found_by_the_rules(fresh) -> None:
    referral("Fay Nodate", born=None, sex="female", source="2A")
    result = made()
    fay = census.la_child_id(person_id("Fay Nodate"))
    assert len(result.children) == 1
    checked = census.check(result.xml)
    assert ("8525Q", "query", fay, ("ExpectedPersonBirthDate", "PersonBirthDate")) in [
        (f.code, f.kind, f.la_child_id, f.fields) for f in checked.findings
    ]


def test_an_unborn_child_a_named_disability_and_a_sex_not_known(fresh) -> None:
    referral("Baby Due", born=None, sex="unknown", source="3B", due="2027-01-15")
    referral("Gus Hearing", born="2019-06-01", sex=None, source="2A", disability="Profoundly deaf")
    result = made()
    baby, gus = result.children
    assert (baby.la_child_id, gus.la_child_id) == (
        census.la_child_id(person_id("Baby Due")),
        census.la_child_id(person_id("Gus Hearing")),
    )
    root = etree.fromstring(result.xml)
    first, second = root.findall("Children/Child")
    assert [(e.tag, e.text) for e in first.find("ChildIdentifiers")] == [
        ("LAchildID", baby.la_child_id),
        ("UPNunknown", "UN1"),
        ("ExpectedPersonBirthDate", "2027-01-15"),
        ("Sex", "U"),
    ]
    assert [(e.tag, e.text) for e in second.find("ChildIdentifiers")] == [
        ("LAchildID", gus.la_child_id),
        ("PersonBirthDate", "2019-06-01"),
        ("Sex", "U"),
    ]
    # A disability named in words has no code here: left out, and Compass says so beside the DfE's rules.
    assert second.find("ChildCharacteristics/Disabilities") is None
    checked = census.check_return(result)
    assert [(f.code, f.la_child_id, f.fields) for f in checked.errors] == [
        ("Compass", gus.la_child_id, ("Disability",))
    ]


def test_two_referrals_of_one_child_are_two_episodes_of_one_child(fresh) -> None:
    referral("Hal Twice", born="2017-07-07", sex="male", source="2A", outcome="no_further_action")
    later = datetime(2027, 1, 12, 10, 0, tzinfo=UTC)
    referral("Hal Twice", born="2017-07-07", sex="male", source="6", start=later)
    result = made()
    assert len(result.children) == 1 and result.referral_count == 2
    child = etree.fromstring(result.xml).find("Children/Child")
    episodes = [
        (c.findtext("CINreferralDate"), c.findtext("ReferralSource"), c.findtext("ReferralNFA"))
        for c in child.findall("CINdetails")
    ]
    assert episodes == [("2026-11-24", "2A", "true"), ("2027-01-12", "6", "false")]
    # One of the two went on to further action, so the UPN is not "unknown because no further action".
    assert child.findtext("ChildIdentifiers/UPNunknown") is None


def test_the_period_is_london_days_from_the_first_to_the_last(fresh) -> None:
    # 00:30 in London on 1 April 2026 is 23:30 UTC on 31 March: inside the census year.
    referral(
        "Ivy Midnight", born="2016-01-01", sex="female", source="2A", start=datetime(2026, 3, 31, 23, 30, tzinfo=UTC)
    )
    assert [c.la_child_id for c in made().children] == [census.la_child_id(person_id("Ivy Midnight"))]
    assert made(census.Period(date(2025, 4, 1), date(2026, 3, 31))).children == []
    assert made(census.Period(date(2026, 4, 2), date(2027, 3, 31))).children == []


def test_a_period_before_2025_writes_gender_current_and_is_checked_with_that_years_rules(fresh) -> None:
    referral("Jo Before", born="2012-03-03", sex="female", source="2A", start=datetime(2024, 1, 9, 11, 0, tzinfo=UTC))
    result = made(census.Period(date(2023, 4, 1), date(2024, 3, 31)))
    ids = etree.fromstring(result.xml).find("Children/Child/ChildIdentifiers")
    assert (ids.findtext("GenderCurrent"), ids.find("Sex")) == ("2", None)
    checked = census.check(result.xml)
    assert checked.ruleset == "cin2023_24"
    assert checked.errors == []


def test_the_rules_package_reads_our_xml_as_its_own_reader_does(fresh) -> None:
    """Our one-pass reader and the package's reader give the same tables for the same return."""
    from cin_validator.cin_validator import convert_data

    the_known_set()
    referral("Fay Nodate", born=None, sex="female", source="2A")
    referral("Gus Hearing", born="2019-06-01", sex=None, source="2A", disability="Profoundly deaf")
    xml = made().xml
    theirs = convert_data(etree.fromstring(xml))
    ours = census.tables_of(etree.fromstring(xml))
    assert set(ours) == set(theirs)
    for name, table in theirs.items():
        missing_alike = table.astype(object).where(table.notna(), None)
        mine = ours[name].astype(object).where(ours[name].notna(), None)
        pd.testing.assert_frame_equal(mine, missing_alike, check_index_type=False, obj=name)


def test_a_finding_names_its_rule_and_child_and_a_rule_about_the_whole_return_names_none(fresh) -> None:
    referral("Kit Source", born="2010-10-10", sex="male", source="2A")
    xml = made().xml.replace(b"<ReferralSource>2A</ReferralSource>", b"<ReferralSource>ZZ</ReferralSource>")
    checked = census.check(xml)
    kit = census.la_child_id(person_id("Kit Source"))
    assert (
        census.Finding(
            "8866",
            "error",
            "Source of Referral is missing or an invalid code",
            kit,
            ("CINreferralDate", "ReferralSource"),
        )
        in checked.findings
    )
    assert checked.findings[0].kind == "error", "errors come first"
    assert [f.la_child_id for f in checked.findings if f.code == "2887Q"] == [None]


def test_period_from_the_form_and_from_links() -> None:
    today = date(2026, 11, 24)
    assert census.period_from({}, today) == CENSUS_YEAR
    assert census.period_from({"from": "2026-04-01", "to": "2026-06-30"}, today) == census.Period(
        date(2026, 4, 1), date(2026, 6, 30)
    )
    boxes = {
        "from-day": "1",
        "from-month": "4",
        "from-year": "2026",
        "to-day": "31",
        "to-month": "3",
        "to-year": "2027",
    }
    assert census.period_from(boxes, today) == CENSUS_YEAR
    assert census.period_from({}, date(2027, 3, 31)) == CENSUS_YEAR
    assert census.period_from({}, date(2027, 4, 1)) == census.Period(date(2027, 4, 1), date(2028, 3, 31))


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (
            {"from": "2026-02-30", "to": "2026-03-31"},
            {"from": "The date the period starts must be a real date, like 2026-04-01"},
        ),
        ({"from": "2026-04-01"}, {"to": "Enter the date the period ends"}),
        (
            {"from-day": "31", "from-month": "4", "from-year": "2026", "to-day": "1", "to-year": "2027"},
            {
                "from": "The date the period starts must be a real date, like 1 4 2026",
                "to": "The date the period ends must include a month",
            },
        ),
        (
            {"from": "2026-04-01", "to": "2026-03-31"},
            {"to": "The date the period ends must be the same as or after the date it starts"},
        ),
        ({"from": "2019-04-01", "to": "2026-03-31"}, {"to": "The period must be six years or shorter"}),
        (
            {"from": "1999-04-01", "to": "2000-03-31"},
            {"from": "The year the period starts must be between 2000 and 2100"},
        ),
        (
            {"from-day": "1", "from-month": "4", "from-year": "26", "to": "9" * 30},
            {
                "from": "The year the period starts must include 4 numbers",
                "to": "The date the period ends must be a real date, like 2026-04-01",
            },
        ),
    ],
)
def test_bad_dates_say_what_is_wrong(values: dict[str, str], errors: dict[str, str]) -> None:
    with pytest.raises(periods.PeriodInvalid) as raised:
        census.period_from(values, date(2026, 11, 24))
    assert raised.value.errors == errors


def test_the_census_year_and_reference_date_of_a_period() -> None:
    assert (CENSUS_YEAR.census_year, CENSUS_YEAR.reference_date, CENSUS_YEAR.is_census_year) == (
        2027,
        date(2027, 3, 31),
        True,
    )
    quarter = census.Period(date(2026, 1, 1), date(2026, 3, 31))
    assert (quarter.census_year, quarter.is_census_year, quarter.title) == (
        2026,
        False,
        "1 January 2026 to 31 March 2026",
    )
    assert CENSUS_YEAR.title == "Census year 2026 to 2027"
    assert CENSUS_YEAR.filename() == "cin-census-2026-04-01-to-2027-03-31.xml"


def test_the_rules_of_the_nearest_year_are_used_when_the_package_has_none_for_the_year() -> None:
    assert census.ruleset_for(2027) == "cin2026_27"
    assert census.ruleset_for(2023) == "cin2022_23"
    assert census.ruleset_for(2019) == "cin2022_23"
    assert census.ruleset_for(2040) == "cin2026_27"


def test_the_export_is_audited_with_the_period_and_counts_and_no_names(fresh) -> None:
    the_known_set()
    result = made()
    census.record_export(user("service_manager"), result)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "CENSUS_EXPORTED"))
    assert event is not None
    assert event.user_id == user("service_manager").id
    assert event.data == {"period_from": "2026-04-01", "period_to": "2027-03-31", "children": 3, "referrals": 3}


def test_the_same_return_is_checked_once(fresh) -> None:
    referral("Lou Once", born="2012-12-12", sex="female", source="2A")
    first = census.check_once(made().xml)
    with time_machine.travel(EXPORTED_AT.replace(hour=15), tick=False):
        again = census.check_once(census.export(CENSUS_YEAR).xml)
    assert again is first
    other = copy.deepcopy(made().xml).replace(
        b"<ReferralSource>2A</ReferralSource>", b"<ReferralSource>6</ReferralSource>"
    )
    assert census.check_once(other) is not first
