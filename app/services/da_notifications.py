"""Receiving police domestic-abuse notifications (DOMAIN.md Flow 3, §8.1): by hand, through the API or in the
day's CSV upload, each becomes a contact (a case) with its people, and the live `da_triage` flow starts on it,
all in one transaction.

A notification is known by its police reference. The same notification sent again (a retried API call, a
file uploaded twice) is recognised by the reference and the same content, and answers with the case it made;
the same reference with different content is refused, so a mistyped reference never merges two incidents.
"""

from __future__ import annotations

import copy
import hashlib
import json
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from functools import lru_cache
from typing import Any

from flask import current_app
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from app import schemaforms
from app.engine.calendar import LONDON, Calendar
from app.extensions import db
from app.models import Case, CasePerson, PersonRelationship, User
from app.models.domestic_abuse import DaNotification
from app.models.types import utcnow
from app.schemaforms import FieldError
from app.services import audit, bundles, csv_files, people, timeline, workflow
from app.services.errors import Forbidden, FormInvalid

FLOW = "da_triage"
FORM = "da_notification"
VIA = ("hand", "api", "csv")
DASH_RISKS = ("standard", "medium", "high")
# The daily joint triage meets at this local time on each working day (§8.5); work for it is due then.
TRIAGE_MEETING = time(10, 0)
# The schools' term dates (Operation Encompass): a settings file beside the flow's diagram.
SCHOOL_TERMS = bundles.PROCESSES_DIR / FLOW / "school_terms.json"

audit.register({"DA_NOTIFICATION_RECEIVED": {"case_id", "notification_id", "via"}})


@lru_cache(maxsize=1)
def _schema_text() -> str:
    return (bundles.FORMS_DIR / f"{FORM}.json").read_text(encoding="utf-8")


def schema() -> dict[str, Any]:
    """The notification's JSON Schema: the hand-entry form, and what the API and the CSV rows must match."""
    return json.loads(_schema_text())  # type: ignore[no-any-return]


def validate(data: dict[str, Any]) -> list[FieldError]:
    errors = schemaforms.validate(schema(), data)
    count = data.get("dash_yes_count")
    if not errors and isinstance(count, int) and count >= HIGH_RISK_YES and data.get("dash_risk") != "high":
        # SafeLives: 14 or more "yes" answers on the DASH checklist is high risk, whatever else is said.
        errors.append(
            FieldError(
                "dash_risk",
                "dash_risk",
                f"The DASH risk must be high when {count} questions were answered yes ({HIGH_RISK_YES} or more is "
                "high risk): check the risk level and the count",
            )
        )
    return errors


# DASH: this many "yes" answers or more is high risk and goes to MARAC (DOMAIN.md Flow 3).
HIGH_RISK_YES = 14


def normalise_reference(value: Any) -> str:
    return str(value or "").strip().upper()


def fingerprint(data: dict[str, Any]) -> str:
    """The content of a notification, so a resubmission can be told from a different one."""
    canonical = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False, default=str)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class DuplicateReference(FormInvalid):
    """The police reference belongs to a notification already received with different details."""


def receive(
    data: dict[str, Any],
    via: str,
    user: User,
    *,
    before_commit: Callable[[Case], None] | None = None,
) -> tuple[Case, bool]:
    """Record one notification and start its triage; `(case, False)` when it is a resubmission of one
    already received. Raises Forbidden, FormInvalid (field errors in plain words) or DuplicateReference."""
    from app import policy

    if via not in VIA:
        raise ValueError(f"a notification arrives by hand, api or csv, not {via!r}")
    if not policy.can_receive_da_notification(user):
        raise Forbidden("Only coordinators, senior social workers and the police record domestic abuse notifications.")
    data = copy.deepcopy(data)
    if isinstance(data.get("police_reference"), str):
        # One reference however it was typed: "da/2026/1 " and "DA/2026/1" are the same notification.
        data["police_reference"] = normalise_reference(data["police_reference"])
    errors = validate(data)
    if errors:
        raise FormInvalid(errors)
    reference = data["police_reference"]
    content = fingerprint(data)
    earlier = _earlier(reference, content)
    if earlier is not None:
        return earlier, False
    try:
        case = _record(data, via, user, content)
        if before_commit is not None:
            before_commit(case)
        db.session.commit()
    except IntegrityError:
        # Another request with the same police reference committed first: answer as a resubmission would.
        db.session.rollback()
        earlier = _earlier(reference, content)
        if earlier is None:
            raise
        return earlier, False
    except Exception:
        db.session.rollback()
        raise
    return case, True


def _earlier(reference: str, content: str) -> Case | None:
    row = db.session.scalar(select(DaNotification).where(DaNotification.police_reference == reference))
    if row is None:
        return None
    if row.payload_hash != content:
        raise DuplicateReference(
            [
                FieldError(
                    "police_reference",
                    "police_reference",
                    f"A notification with police reference {reference} was already received on "
                    f"{row.received_at.astimezone(LONDON):%d %B %Y} with different details "
                    f"({row.case.reference}): check the reference",
                )
            ]
        )
    return row.case


def _record(data: dict[str, Any], via: str, user: User, content: str) -> Case:
    """The case, its people, the notification and the flow, inside the caller's transaction."""
    case = Case(
        reference=f"new-{secrets.token_hex(6)}",
        source="police",
        referral_source="6",  # police notifications come from the police
        request_type="da_notification",
        concern=str(data.get("summary", "")),
        created_by_id=user.id,
    )
    db.session.add(case)
    db.session.flush()
    case.reference = f"CT-{case.id:06d}"
    _add_people(case, data)
    victim, perpetrator = data.get("victim") or {}, data.get("perpetrator") or {}
    row = DaNotification(
        case_id=case.id,
        police_reference=data["police_reference"],
        received_via=via,
        incident_at=incident_moment(data),
        dash_risk=data["dash_risk"],
        dash_yes_count=data.get("dash_yes_count"),
        marac=bool(data.get("marac")),
        repeat=bool(data.get("repeat_incident")),
        summary=str(data.get("summary", "")),
        victim_name=str(victim.get("name", "")),
        victim_address=victim.get("address") or None,
        victim_safe_to_write=victim.get("safe_to_write") is True,
        perpetrator_name=perpetrator.get("name") or None,
        children=[dict(c) for c in data["children"]],
        received_by_id=user.id,
        payload_hash=content,
    )
    db.session.add(row)
    db.session.flush()
    audit.record("CASE_CREATED", user.id, case_id=case.id)
    audit.record("DA_NOTIFICATION_RECEIVED", user.id, case_id=case.id, notification_id=row.id, via=via)
    timeline.add(
        case.id,
        user.id,
        "Police domestic abuse notification received",
        [
            ["Police reference", row.police_reference],
            ["Received", {"hand": "Entered by hand", "api": "Through the API", "csv": "In the day's upload"}[via]],
            ["DASH risk", row.dash_risk.capitalize()],
            ["Going to MARAC", "Yes" if row.marac else "No"],
            ["Repeat incident", "Yes" if row.repeat else "No"],
        ],
    )
    workflow.start_instance(case, bundles.live_bundle(FLOW), user, start_data(data))
    return case


def start_data(data: dict[str, Any]) -> dict[str, Any]:
    """What the triage starts with: the notification, each child with their key, and its two clocks."""
    now = utcnow()
    found = copy.deepcopy(data)
    found.setdefault("perpetrator", {})
    found.setdefault("dash_yes_count", None)
    found.setdefault("incident_time", None)
    found["triage_due"] = next_triage_meeting(now).isoformat()
    found["next_school_day"] = next_school_day(now.astimezone(LONDON).date()).isoformat()
    return found


def incident_moment(data: dict[str, Any]) -> datetime:
    day = date.fromisoformat(str(data["incident_date"]))
    clock = time.fromisoformat(data["incident_time"]) if data.get("incident_time") else time(0, 0)
    return datetime.combine(day, clock, tzinfo=LONDON).astimezone(UTC)


def next_triage_meeting(now: datetime) -> datetime:
    """The next daily triage meeting: today's, if today is a working day and it has not begun; otherwise the
    next working day's."""
    return Calendar.from_settings(current_app.config).next_working_day_at(now, TRIAGE_MEETING)


def next_school_day(today: date, terms: list[dict[str, Any]] | None = None) -> date:
    """The first school day after `today`, from the term dates in the settings file: a weekday inside a term
    and not one of its closed days (half term, training days). Past the last term listed, the next weekday
    that is not a bank holiday, so a notification is never held back for want of next year's dates."""
    terms = _terms() if terms is None else terms
    calendar = Calendar()
    last = max((date.fromisoformat(t["ends"]) for t in terms), default=None)
    day = today
    for _ in range(400):  # a year and a month: more than any gap between two terms
        day = date.fromordinal(day.toordinal() + 1)
        if last is None or day > last:
            return day if calendar.is_working_day(day) else calendar.next_working_day(day)
        if calendar.is_working_day(day) and _in_term(day, terms):  # a bank holiday in term is no school day
            return day
    raise LookupError(f"no school day within a year of {today}: check the term dates")


def _in_term(day: date, terms: list[dict[str, Any]]) -> bool:
    for term in terms:
        if date.fromisoformat(term["starts"]) <= day <= date.fromisoformat(term["ends"]):
            closed = term.get("closed") or []
            return not any(date.fromisoformat(a) <= day <= date.fromisoformat(b) for a, b in closed)
    return False


@lru_cache(maxsize=1)
def _terms_text() -> str:
    return SCHOOL_TERMS.read_text(encoding="utf-8")


def _terms() -> list[dict[str, Any]]:
    return list(json.loads(_terms_text())["terms"])


def _add_people(case: Case, data: dict[str, Any]) -> None:
    """Each child matched to a known child where one strongly matches (as a contact's are), the victim as a
    parent, and the alleged perpetrator, with how each adult stands to the children."""
    victim = data.get("victim") or {}
    children = []
    for n, child in enumerate(data["children"], start=1):
        child["key"] = f"child-{n}"
        person = people.find_or_create_child(
            str(child.get("name", "")), child.get("date_of_birth"), postcode=child.get("postcode")
        )
        children.append(person)
        db.session.add(CasePerson(case=case, person=person, key=child["key"], role="child", details=_details(child)))
    adults = [
        ("parent", "parent-1", victim, "Parent (victim)"),
    ]
    perpetrator = data.get("perpetrator") or {}
    if perpetrator.get("name"):
        adults.append(("alleged_perpetrator", "alleged-perpetrator", perpetrator, "Alleged perpetrator"))
    for role, key, adult, described in adults:
        person = people.new_person(str(adult.get("name", "")))
        details = _details(adult)
        if role == "parent":
            details.update(relationship="Victim", parental_responsibility=True)
        db.session.add(CasePerson(case=case, person=person, key=key, role=role, details=details))
        for child in children:
            db.session.add(
                PersonRelationship(person=person, child=child, described_as=described, role=role, case_id=case.id)
            )
    db.session.flush()


def _details(record: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in record.items() if k not in {"name", "key"}}


def notification_of(case: Case) -> DaNotification | None:
    return db.session.scalar(select(DaNotification).where(DaNotification.case_id == case.id))


def record_for_scenario(user: User, start: dict[str, Any]) -> Case:
    """The scenario runner's starter: a notification entered by hand."""
    case, _created = receive(start, "hand", user)
    return case


def scenario_facts(case: Case) -> dict[str, Any] | None:
    row = notification_of(case)
    if row is None:
        return None
    return {
        "police_reference": row.police_reference,
        "received_via": row.received_via,
        "dash_risk": row.dash_risk,
        "people": sorted(f"{p.key}:{p.role}" for p in case.people),
    }


# --- The day's upload ------------------------------------------------------------------------------------------

MAX_CHILDREN_IN_CSV = 6
CHILD_COLUMNS = ("name", "date_of_birth", "postcode", "school", "school_email")
CSV_COLUMNS = (
    "police_reference",
    "incident_date",
    "incident_time",
    "dash_risk",
    "dash_yes_count",
    "marac",
    "repeat",
    "summary",
    "victim_name",
    "victim_address",
    "victim_safe_to_write",
    "victim_phone",
    "perpetrator_name",
    "perpetrator_relationship",
    *(f"child_{n}_{c}" for n in range(1, MAX_CHILDREN_IN_CSV + 1) for c in CHILD_COLUMNS),
)
CSV_REQUIRED = ("police_reference", "incident_date", "dash_risk", "summary", "victim_name", "child_1_name")
YES = {"yes", "y", "true", "1"}
NO = {"no", "n", "false", "0"}

audit.register({"DA_NOTIFICATIONS_UPLOADED": {"rows", "accepted", "recognised", "refused"}})


@dataclass
class UploadRow:
    row: int  # as a spreadsheet numbers it: the header is row 1
    police_reference: str
    status: str  # accepted, recognised (a resubmission), refused
    message: str
    case_id: int | None = None
    case_reference: str | None = None


@dataclass
class UploadReport:
    rows: list[UploadRow] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(r.status == status for r in self.rows)


def read_upload(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The data rows of an upload, numbered as a spreadsheet numbers them, as column -> text."""
    header, rows = csv_files.read(data, "notification")
    csv_files.check_header(header, CSV_COLUMNS, "See the list of columns on this page.")
    csv_files.check_required(header, [c for c in CSV_REQUIRED if c not in header])
    return rows


def upload(data: bytes, user: User) -> UploadReport:
    """Record each row of the day's upload on its own: a row is recorded whole or not at all, and a refused
    row never stops the rows after it. Raises FileRefused when the file cannot be read at all."""
    from app import policy

    if not policy.can_receive_da_notification(user):
        raise Forbidden("Only coordinators, senior social workers and the police upload domestic abuse notifications.")
    report = UploadReport()
    seen: dict[str, tuple[int, str]] = {}  # reference -> (row, content) earlier in this file
    for number, record in read_upload(data):
        reference = normalise_reference(record.get("police_reference"))
        notification, problems = notification_from_row(record)
        if not problems and reference in seen and seen[reference][1] != fingerprint(notification):
            problems = [f"duplicate police reference: row {seen[reference][0]} has the same reference"]
        if problems:
            report.rows.append(UploadRow(number, reference, "refused", "; ".join(problems)))
            continue
        try:
            case, created = receive(notification, "csv", user)
        except FormInvalid as invalid:
            report.rows.append(UploadRow(number, reference, "refused", _reasons(invalid)))
            continue
        except SQLAlchemyError as err:
            db.session.rollback()
            report.rows.append(UploadRow(number, reference, "refused", f"could not be saved ({type(err).__name__})"))
            continue
        except Exception:  # one row's trouble must not lose the rows after it, nor the report of those before
            db.session.rollback()
            current_app.logger.exception("domestic-abuse upload: row %s could not be recorded", number)
            report.rows.append(UploadRow(number, reference, "refused", "could not be recorded: tell the service desk"))
            continue
        seen.setdefault(reference, (number, fingerprint(notification)))
        said = "accepted" if created else "recognised"
        message = "recorded; the triage has started" if created else "already received: nothing new recorded"
        report.rows.append(UploadRow(number, reference, said, message, case.id, case.reference))
    audit.record(
        "DA_NOTIFICATIONS_UPLOADED",
        user.id,
        rows=len(report.rows),
        accepted=report.count("accepted"),
        recognised=report.count("recognised"),
        refused=report.count("refused"),
    )
    db.session.commit()
    return report


def _reasons(invalid: FormInvalid) -> str:
    if isinstance(invalid, DuplicateReference):
        return "duplicate police reference: " + "; ".join(str(e.message) for e in invalid.errors)
    return "; ".join(f"{e.path}: {e.message}" if isinstance(e, FieldError) else str(e) for e in invalid.errors)


def notification_from_row(record: dict[str, str]) -> tuple[dict[str, Any], list[str]]:
    """A CSV row as the notification's data, with the problems only a row can have (a date not written as
    YYYY-MM-DD, a yes/no that is neither, an unknown risk level, no child); the schema judges the rest."""
    problems: list[str] = []
    if "__extra__" in record:
        problems.append(f"the row has {record['__extra__']} values but the header names fewer columns")
    value = {c: record.get(c, "").strip() for c in CSV_COLUMNS}

    def day(column: str) -> str | None:
        if not value[column]:
            return None
        try:
            return date.fromisoformat(value[column]).isoformat()
        except ValueError:
            problems.append(f"bad date in {column}: {value[column]!r} (write dates as YYYY-MM-DD)")
            return None

    def yes_no(column: str, default: bool | None = None) -> bool | None:
        text = value[column].lower()
        if not text:
            return default
        if text in YES | NO:
            return text in YES
        problems.append(f"{column} must be yes or no, not {value[column]!r}")
        return None

    data: dict[str, Any] = {"police_reference": normalise_reference(value["police_reference"])}
    if not value["police_reference"]:
        problems.append("missing police reference")
    incident = day("incident_date")
    if not value["incident_date"]:
        problems.append("missing incident_date")
    elif incident:
        data["incident_date"] = incident
    if value["incident_time"]:
        data["incident_time"] = value["incident_time"]
    risk = value["dash_risk"].lower()
    if risk not in DASH_RISKS:
        problems.append(
            f"unknown risk level {value['dash_risk']!r} (standard, medium or high)" if risk else "missing dash_risk"
        )
    data["dash_risk"] = risk
    if value["dash_yes_count"]:
        if value["dash_yes_count"].isascii() and value["dash_yes_count"].isdigit():
            data["dash_yes_count"] = int(value["dash_yes_count"])
        else:
            problems.append(f"dash_yes_count must be a whole number, not {value['dash_yes_count']!r}")
    data["marac"] = yes_no("marac", default=False)
    data["repeat_incident"] = yes_no("repeat", default=False)
    data["summary"] = value["summary"]
    data["victim"] = {"name": value["victim_name"], "safe_to_write": yes_no("victim_safe_to_write", default=False)}
    if value["victim_address"]:
        data["victim"]["address"] = value["victim_address"]
    if value["victim_phone"]:
        data["victim"]["phone"] = value["victim_phone"]
    data["perpetrator"] = {
        k: v for k, v in (("name", value["perpetrator_name"]), ("relationship", value["perpetrator_relationship"])) if v
    }
    children = []
    for n in range(1, MAX_CHILDREN_IN_CSV + 1):
        child = {c: value[f"child_{n}_{c}"] for c in CHILD_COLUMNS if value[f"child_{n}_{c}"]}
        if not child:
            continue
        if not child.get("name"):
            problems.append(f"missing child: child_{n}_name is blank but the row gives other details of that child")
        born = day(f"child_{n}_date_of_birth")
        child.pop("date_of_birth", None)
        if born:
            child["date_of_birth"] = born
        children.append(child)
    if not children:
        problems.append("missing child: a notification names at least one child (child_1_name)")
    data["children"] = children
    return data, problems
