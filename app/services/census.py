"""The front-door part of the Children in Need census (CIN): the XML return for a period, checked with the DfE's
own rules (the `csc-validator-be-cin` package) before the service manager downloads it.

Who is in it: every child with a referral accepted in the period (the census referral date is the London day
of `Referral.accepted_at`) on a contact that was not voided. Each child appears once, with one CINdetails per
referral, in the order the referrals were accepted; children are ordered by their LAchildID.

What Compass knows and what it does not (the page says the same to the manager):
- LAchildID is the child's Compass person record, `CMP` and eight digits: stable, never the name. After two
  records are merged, the referrals move to the one kept, so the child appears once.
- Date of birth from the person record; an unborn child's expected date of birth from the contact.
- Sex from the contact form (female, male, not known), as `Sex` (M, F, U) from the 2024 to 2025 census on and
  as `GenderCurrent` (2, 1, 0) before it; an unborn child is U (0).
- ReferralSource is the code kept on the contact (app/referral_sources.py); ReferralNFA is true when the
  referral's outcome was no further action.
- A s47 enquiry started by a strategy discussion about the child (or about every child of the contact) gives
  a Section47 module: its start date and the conference's target date. The conference itself is held after
  the child has left the front door, so its date is not known here and ICPCnotRequired is false.
- Compass does not hold these, so they take the census's "not known" codes or are left out:
  the UPN (UPNunknown UN7 for a referral with no further action, UN1 for a child not yet of school age or
  unborn, otherwise left out for the council's records system to give); Ethnicity (NOBT, information not yet
  obtained); PrimaryNeedCode (N0, not stated, on a referral that goes on to further action); Disability
  (NONE where the contact named no disability; left out where it named one in words, and listed as a finding
  of Compass's own to be coded). Closure dates, assessments, CIN plans and child protection plans come from the records
  system that holds the rest of the child's episode.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import io
import pkgutil
import re
import threading
import warnings
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import current_app
from lxml import etree
from sqlalchemy import select

from app.config import LONDON
from app.extensions import db
from app.models import Case, CasePerson, Person, Referral, User
from app.models.strategy import StrategyDiscussion
from app.models.types import utcnow
from app.referral_sources import SOURCES, UNKNOWN
from app.services import audit, periods

audit.register({"CENSUS_EXPORTED": {"period_from", "period_to", "children", "referrals"}})

# The DfE's code for this council (Shropshire); a deployment for another council sets CENSUS_LA_CODE.
DEFAULT_LA_CODE = "893"
SOFTWARE = "Compass"
# The census asked for Sex (M, F, U) in place of GenderCurrent from the 2024 to 2025 collection on.
FIRST_YEAR_WITH_SEX = 2025

SEX_CODES = {"female": "F", "male": "M"}
GENDER_CODES = {"female": "2", "male": "1"}
ETHNICITY_NOT_OBTAINED = "NOBT"
PRIMARY_NEED_NOT_STATED = "N0"
NO_DISABILITY = "NONE"
UPN_NOT_SCHOOL_AGE = "UN1"
UPN_REFERRAL_NFA = "UN7"
# Findings of Compass's own, beside the DfE's rules.
OWN_CHECK = "Compass"
UNCODED_DISABILITY = (
    "The contact names a disability in words: give its census code (Disability) in the council's records system"
)

# What the page tells the manager Compass cannot fill truthfully, field by field.
NOT_KNOWN_HERE = [
    (
        "UPN",
        "Not held by Compass. UN7 for a referral with no further action, UN1 for a child not yet of "
        "school age or unborn; otherwise left out, for the council's records system to give.",
    ),
    ("Ethnicity", "Not asked at the front door: NOBT (information not yet obtained) for every child."),
    (
        "PrimaryNeedCode",
        "Decided at assessment, after the front door: N0 (not stated) on each referral that goes on to further action.",
    ),
    (
        "Disability",
        "NONE where the contact named no disability. Where it named one in words, it is left out "
        "and listed with the findings as one of Compass's own, to be coded.",
    ),
    (
        "Section47",
        "The start date and the conference's target date are from the strategy discussion. The "
        "conference is held after the child leaves the front door, so its date is not known here.",
    ),
    (
        "CINclosureDate, assessments, CIN plans, child protection plans",
        "Recorded in the council's records system, which holds the rest of each child's episode.",
    ),
]


# --- The period --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Period(periods.Period):
    @property
    def census_year(self) -> int:
        """The collection year the return belongs to: the year of the 31 March that ends the census year
        holding the period's last day."""
        return self.last.year + 1 if self.last.month >= 4 else self.last.year

    @property
    def reference_date(self) -> date:
        return date(self.census_year, 3, 31)

    @property
    def is_census_year(self) -> bool:
        return self == census_year_ending(self.census_year)

    @property
    def title(self) -> str:
        if self.is_census_year:
            return f"Census year {self.census_year - 1} to {self.census_year}"
        return super().title

    def filename(self) -> str:
        return f"cin-census-{self.first.isoformat()}-to-{self.last.isoformat()}.xml"


def census_year_ending(year: int) -> Period:
    return Period(date(year - 1, 4, 1), date(year, 3, 31))


def census_year_of(day: date) -> Period:
    """The census year (1 April to 31 March) holding a day."""
    return census_year_ending(day.year + 1 if day.month >= 4 else day.year)


def period_from(values: dict[str, str], today: date) -> Period:
    """The period a request asks for; nothing asked means the census year holding today."""
    return periods.read(values, lambda: census_year_of(today), Period)


# --- What the return holds ---------------------------------------------------------------------------------


@dataclass
class Episode:
    """One referral: a CINdetails module."""

    referral_id: int
    case_id: int
    child_id: int  # the child's part in that contact (CasePerson)
    referral_date: date
    source: str
    nfa: bool
    primary_need: str | None
    s47: list[tuple[date, date | None]] = field(default_factory=list)  # (start, conference target)


@dataclass
class ChildRecord:
    person_id: int
    la_child_id: str
    born: date | None
    due: date | None
    sex: str  # female, male, unknown
    disability: str | None  # NONE, or None where a disability was named in words
    upn_unknown: str | None
    episodes: list[Episode]


@dataclass
class Census:
    period: Period
    children: list[ChildRecord]
    xml: bytes

    @property
    def referral_count(self) -> int:
        return sum(len(c.episodes) for c in self.children)

    def gaps(self) -> list[Finding]:
        """What Compass itself knows is missing from the return, where no DfE rule says so: a disability the
        contact named in words has no census code here (and the package's rule 8540, which should ask for it,
        reports nothing when a child has no disability code)."""
        return [
            Finding(OWN_CHECK, "error", UNCODED_DISABILITY, child.la_child_id, ("Disability",))
            for child in self.children
            if child.disability is None
        ]


def la_child_id(person_id: int) -> str:
    return f"CMP{person_id:08d}"


def collect(period: Period) -> list[ChildRecord]:
    """The children with a referral accepted in the period, on contacts not voided, as the census wants them."""
    rows = db.session.execute(
        select(Referral, CasePerson, Person, Case.referral_source)
        .join(Case, Case.id == Referral.case_id)
        .join(CasePerson, CasePerson.id == Referral.child_id)
        .join(Person, Person.id == Referral.person_id)
        .where(
            Case.voided_at.is_(None),
            Referral.accepted_at.is_not(None),
            Referral.accepted_at >= period.starts,
            Referral.accepted_at < period.ends,
        )
        .order_by(Referral.person_id, Referral.accepted_at, Referral.id)
    ).all()
    enquiries = _s47_enquiries(period)
    children: dict[int, ChildRecord] = {}
    for referral, child, person, source in rows:
        assert referral.accepted_at is not None
        nfa = referral.outcome == "no_further_action"
        episode = Episode(
            referral_id=referral.id,
            case_id=referral.case_id,
            child_id=referral.child_id,
            referral_date=referral.accepted_at.astimezone(LONDON).date(),
            source=source if source in SOURCES else UNKNOWN,
            nfa=nfa,
            primary_need=None if nfa else PRIMARY_NEED_NOT_STATED,
        )
        record = children.get(person.id)
        if record is None:
            record = children[person.id] = ChildRecord(
                person_id=person.id,
                la_child_id=la_child_id(person.id),
                born=person.date_of_birth,
                due=None,
                sex="unknown",
                disability=NO_DISABILITY,
                upn_unknown=None,
                episodes=[],
            )
        record.episodes.append(episode)
        _describe(record, child)
    # Each s47 enquiry belongs to the child's latest referral on that contact accepted by the day it started.
    for record in children.values():
        by_case: dict[int, list[Episode]] = {}
        for episode in record.episodes:
            by_case.setdefault(episode.case_id, []).append(episode)
        for case_id, episodes in by_case.items():
            for discussion in enquiries.get(case_id, []):
                ours = [e for e in episodes if discussion.child_id in (None, e.child_id)]
                if not ours:
                    continue
                assert discussion.s47_started_at is not None
                started = discussion.s47_started_at.astimezone(LONDON).date()
                before = [e for e in ours if e.referral_date <= started]
                (before[-1] if before else ours[0]).s47.append((started, discussion.icpc_due_on))
        for episode in record.episodes:
            episode.s47.sort(key=lambda enquiry: enquiry[0])
        record.upn_unknown = _upn_unknown(record, period)
    return [children[k] for k in sorted(children)]


def _describe(record: ChildRecord, child: CasePerson) -> None:
    """What the contact said about the child; a later contact's answer stands over an earlier one's."""
    details = child.details or {}
    sex = details.get("sex")
    if sex in SEX_CODES:
        record.sex = sex
    if record.born is None:
        record.born = _day(details.get("date_of_birth"))
    due = _day(details.get("due_date"))
    if due is not None:
        record.due = due
    named = str(details.get("disability") or "").strip()
    if named:
        record.disability = None


def _day(value: Any) -> date | None:
    try:
        return date.fromisoformat(str(value)) if value else None
    except ValueError:
        return None


def _upn_unknown(record: ChildRecord, period: Period) -> str | None:
    if all(e.nfa for e in record.episodes):
        return UPN_REFERRAL_NFA
    # Of school age as the DfE's rule 8770Q counts it: born on or before 31 August six years before the
    # census year ends.
    school_age_from = date(period.census_year - 6, 8, 31)
    if record.born is None:
        return UPN_NOT_SCHOOL_AGE if record.due is not None else None
    return UPN_NOT_SCHOOL_AGE if record.born > school_age_from else None


def _s47_enquiries(period: Period) -> dict[int, list[StrategyDiscussion]]:
    """The s47 enquiries of the cases whose referrals the return holds, by case; the cases are named by a
    sub-query, since a list of ids as parameters has a limit a long period at a large council would pass."""
    referred = select(Referral.case_id).where(Referral.accepted_at >= period.starts, Referral.accepted_at < period.ends)
    found: dict[int, list[StrategyDiscussion]] = {}
    for row in db.session.scalars(
        select(StrategyDiscussion)
        .where(
            StrategyDiscussion.case_id.in_(referred),
            StrategyDiscussion.s47.is_(True),
            StrategyDiscussion.s47_started_at.is_not(None),
            StrategyDiscussion.s47_started_at < period.ends,
        )
        .order_by(StrategyDiscussion.s47_started_at, StrategyDiscussion.id)
    ):
        found.setdefault(row.case_id, []).append(row)
    return found


# --- The XML -----------------------------------------------------------------------------------------------


def la_code() -> str:
    return str(current_app.config.get("CENSUS_LA_CODE") or DEFAULT_LA_CODE)


def build_xml(period: Period, children: list[ChildRecord], now: datetime | None = None) -> bytes:
    """The return in the DfE's CIN XML: elements in the order of its schema, UTF-8."""
    moment = (now or utcnow()).astimezone(LONDON)
    message = etree.Element("Message")
    header = etree.SubElement(message, "Header")
    details = etree.SubElement(header, "CollectionDetails")
    _add(details, "Collection", "CIN")
    _add(details, "Year", str(period.census_year))
    _add(details, "ReferenceDate", period.reference_date.isoformat())
    source = etree.SubElement(header, "Source")
    _add(source, "SourceLevel", "L")
    _add(source, "LEA", la_code())
    _add(source, "SoftwareCode", SOFTWARE)
    _add(source, "DateTime", moment.strftime("%Y-%m-%dT%H:%M:%S"))
    listed = etree.SubElement(message, "Children")
    with_sex = period.census_year >= FIRST_YEAR_WITH_SEX
    for child in children:
        element = etree.SubElement(listed, "Child")
        ids = etree.SubElement(element, "ChildIdentifiers")
        _add(ids, "LAchildID", child.la_child_id)
        _add(ids, "UPNunknown", child.upn_unknown)
        _add(ids, "PersonBirthDate", child.born.isoformat() if child.born else None)
        _add(ids, "ExpectedPersonBirthDate", child.due.isoformat() if child.due and not child.born else None)
        unborn = child.born is None and child.due is not None
        if with_sex:
            _add(ids, "Sex", "U" if unborn else SEX_CODES.get(child.sex, "U"))
        else:
            _add(ids, "GenderCurrent", "0" if unborn else GENDER_CODES.get(child.sex, "0"))
        characteristics = etree.SubElement(element, "ChildCharacteristics")
        _add(characteristics, "Ethnicity", ETHNICITY_NOT_OBTAINED)
        if child.disability:
            disabilities = etree.SubElement(characteristics, "Disabilities")
            _add(disabilities, "Disability", child.disability)
        for episode in child.episodes:
            cin = etree.SubElement(element, "CINdetails")
            _add(cin, "CINreferralDate", episode.referral_date.isoformat())
            _add(cin, "ReferralSource", episode.source)
            _add(cin, "PrimaryNeedCode", episode.primary_need)
            for started, target in episode.s47:
                s47 = etree.SubElement(cin, "Section47")
                _add(s47, "S47ActualStartDate", started.isoformat())
                _add(s47, "InitialCPCtarget", target.isoformat() if target else None)
                _add(s47, "ICPCnotRequired", "false")
            _add(cin, "ReferralNFA", "true" if episode.nfa else "false")
    return etree.tostring(message, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _add(parent: Any, tag: str, text: str | None) -> None:
    if text is not None:
        etree.SubElement(parent, tag).text = text


def export(period: Period) -> Census:
    children = collect(period)
    return Census(period, children, build_xml(period, children))


def record_export(user: User, census: Census) -> None:
    """The download, in the audit trail: the period and how many, never who."""
    audit.record(
        "CENSUS_EXPORTED",
        user.id,
        period_from=census.period.first.isoformat(),
        period_to=census.period.last.isoformat(),
        children=len(census.children),
        referrals=census.referral_count,
    )
    db.session.commit()


# --- The DfE's rules ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    code: str
    kind: str  # error, query, or not_run (the rule itself failed on this return)
    message: str
    la_child_id: str | None  # None: about the return as a whole
    fields: tuple[str, ...]

    @property
    def person_id(self) -> int | None:
        match = re.fullmatch(r"CMP(\d+)", self.la_child_id or "")
        return int(match.group(1)) if match else None


@dataclass
class Check:
    ruleset: str | None  # the DfE's name for the rules used: cin2026_27
    findings: list[Finding]
    unavailable: str | None = None  # why the rules could not be run at all

    @property
    def ruleset_title(self) -> str:
        match = re.fullmatch(r"cin(\d{4})_(\d{2})", self.ruleset or "")
        return f"{match.group(1)} to 20{match.group(2)}" if match else ""

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.kind == "error"]

    def by_rule(self) -> list[RuleSummary]:
        """One line per rule broken: how many children it names (none for a rule about the whole return)."""
        rules: dict[str, RuleSummary] = {}
        for f in self.findings:
            line = rules.setdefault(f.code, RuleSummary(f.code, f.kind, f.message, 0))
            if f.la_child_id:
                line.children += 1
        return list(rules.values())


@dataclass
class RuleSummary:
    code: str
    kind: str
    message: str
    children: int


KIND_ORDER = {"error": 0, "not_run": 1, "query": 2}


def check(xml: bytes) -> Check:
    """Run every rule of the DfE's package for the return's collection year on the XML. The package (and
    pandas) load on first use: the rest of Compass never waits for them."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            from cin_validator import cin_validator
            from cin_validator.utils import process_date_columns
    except Exception as err:  # not installed, or installed but unable to load (a binary mismatch)
        return Check(None, [], unavailable=f"The DfE's rules could not be loaded here: {type(err).__name__}: {err}")
    root = etree.fromstring(xml, parser=etree.XMLParser(resolve_entities=False, no_network=True))
    year = int(root.findtext("Header/CollectionDetails/Year") or "0")
    ruleset = ruleset_for(year)
    registry = importlib.import_module(f"cin_validator.rules.{ruleset}").registry
    tables = {name: process_date_columns(table) for name, table in tables_of(root).items()}
    printed = io.StringIO()
    with warnings.catch_warnings(), contextlib.redirect_stdout(printed):
        warnings.simplefilter("ignore")
        validator = cin_validator.CinValidator(tables, registry)
    return Check(ruleset, _findings(validator, registry, printed.getvalue()))


# The findings of the returns last checked, so that paging through a long list of findings does not run every
# rule again. They hold codes and LAchildIDs, no names.
_CHECKED: OrderedDict[str, Check] = OrderedDict()
_CHECKED_LOCK = threading.Lock()
CHECKS_KEPT = 8


def check_return(result: Census) -> Check:
    """The DfE's rules on the return, with Compass's own findings beside them."""
    checked = check_once(result.xml)
    findings = sorted(result.gaps() + checked.findings, key=_finding_order)
    return Check(checked.ruleset, findings, checked.unavailable)


def _finding_order(f: Finding) -> tuple[int, str, str]:
    return (KIND_ORDER.get(f.kind, 3), f.la_child_id or "", f.code)


def check_once(xml: bytes) -> Check:
    """`check`, remembered for a return with the same content (the moment it was made aside)."""
    key = hashlib.sha256(re.sub(rb"<DateTime>[^<]*</DateTime>", b"", xml)).hexdigest()
    with _CHECKED_LOCK:
        if key in _CHECKED:
            _CHECKED.move_to_end(key)
            return _CHECKED[key]
    found = check(xml)
    if found.unavailable is None:
        with _CHECKED_LOCK:
            _CHECKED[key] = found
            while len(_CHECKED) > CHECKS_KEPT:
                _CHECKED.popitem(last=False)
    return found


def ruleset_for(year: int) -> str:
    """The DfE's rules for a collection year: cin2026_27 for the return due on 31 March 2027; the nearest the
    installed package has when it has none for that year."""
    import cin_validator.rules as rules

    known = sorted(
        int(m.name[3:7]) + 1 for m in pkgutil.iter_modules(rules.__path__) if re.fullmatch(r"cin\d{4}_\d{2}", m.name)
    )
    chosen = min(known, key=lambda y: (abs(y - year), -y)) if year not in known else year
    return f"cin{chosen - 1}_{chosen % 100:02d}"


def _findings(validator: Any, registry: dict[str, Any], printed: str) -> list[Finding]:
    kinds = {str(code): rule.rule_type.name.lower() for code, rule in registry.items()}
    messages = {str(code): str(rule.message).strip() for code, rule in registry.items()}
    found: dict[tuple[str, str | None], set[str]] = {}
    for row in validator.full_issue_df.to_dict("records"):
        code = str(row.get("rule_code"))
        child = row.get("child_id")
        child_id = str(child) if isinstance(child, str) and child else None
        column = row.get("columns_affected")
        columns = found.setdefault((code, child_id), set())
        if isinstance(column, str) and column:
            columns.add(column)
    for row in validator.multichild_issues.to_dict("records"):
        found.setdefault((str(row.get("rule_code")), None), set())
    findings = [
        Finding(code, kinds.get(code, "error"), messages.get(code, ""), child, tuple(sorted(columns)))
        for (code, child), columns in found.items()
    ]
    # A rule that raised on this return is named, so a manager never reads "no problems" over a rule not run.
    for code in dict.fromkeys(re.findall(r"^Error with rule (\S+):", printed, flags=re.MULTILINE)):
        findings.append(Finding(code, "not_run", messages.get(code, ""), None, ()))
    findings.sort(key=_finding_order)
    return findings


def tables_of(root: Any) -> dict[str, Any]:
    """The return as the DfE's package holds it: the same tables, columns and values its own XML reader makes
    (cin_validator.ingress.XMLtoCSV), read in one pass. That reader grows each table a child at a time, so a
    return of a few thousand children takes minutes; this takes a moment."""
    import pandas as pd
    from cin_validator.ingress import XMLtoCSV

    def values(block: Any, names: list[str]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in names:
            found = block.find(name) if block is not None else None
            out[name] = found.text if found is not None else pd.NA
        return out

    templates = {
        name: getattr(XMLtoCSV, name)
        for name in (
            "Header",
            "ChildIdentifiers",
            "ChildCharacteristics",
            "ChildProtectionPlans",
            "CINdetails",
            "CINplanDates",
            "Reviews",
            "Section47",
            "Assessments",
            "AssessmentFactorsList",
            "Disabilities",
        )
    }
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in templates}
    header = root.find("Header")
    head = values(
        header.find("CollectionDetails") if header is not None else None, ["Collection", "Year", "ReferenceDate"]
    )
    head |= values(
        header.find("Source") if header is not None else None,
        ["SourceLevel", "LEA", "SoftwareCode", "Release", "SerialNo", "DateTime"],
    )
    rows["Header"].append(head)
    for child in root.iterfind("Children/Child"):
        ids = values(child.find("ChildIdentifiers"), list(templates["ChildIdentifiers"].columns))
        child_id = ids["LAchildID"]
        rows["ChildIdentifiers"].append(ids)
        characteristics = child.find("ChildCharacteristics")
        rows["ChildCharacteristics"].append({"LAchildID": child_id} | values(characteristics, ["Ethnicity"]))
        disabilities = characteristics.find("Disabilities") if characteristics is not None else None
        for disability in disabilities if disabilities is not None else []:
            rows["Disabilities"].append({"LAchildID": child_id, "Disability": disability.text})
        for number, cin in enumerate(child.findall("CINdetails"), start=1):
            keys = {"LAchildID": child_id, "CINdetailsID": number}
            rows["CINdetails"].append(keys | values(cin, list(templates["CINdetails"].columns[2:])))
            for s47 in cin.findall("Section47"):
                rows["Section47"].append(keys | values(s47, list(templates["Section47"].columns[2:])))
            if cin.find("Assessments") is not None or cin.find("CINPlanDates") is not None:
                raise ValueError("this reader holds the modules Compass writes, and no assessments or plans")
            if cin.find("ChildProtectionPlans") is not None:
                raise ValueError("this reader holds the modules Compass writes, and no child protection plans")
    tables = {}
    for name, template in templates.items():
        table = template.copy()
        if rows[name]:
            table = pd.concat([table, pd.DataFrame(rows[name], columns=template.columns)], ignore_index=True)
        tables[name] = table
    # The package's Header is made on its own, not grown from an empty table.
    tables["Header"] = pd.DataFrame(rows["Header"])
    return tables
