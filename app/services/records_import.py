"""Importing open cases, allocated workers and past involvement from the council's main children's record system
(a CSV export; docs/records-import.md), and the demo records that stand in for it on a demonstration.

Each row is all or nothing: a refused row writes nothing and the rows accepted around it are kept. Rows are
matched again by (kind, external_id), so importing the same file twice changes nothing.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from dateutil.relativedelta import relativedelta
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app.extensions import db
from app.models import Involvement, Person, User
from app.models.types import utcnow
from app.services import csv_files, people
from app.services.csv_files import FileRefused
from app.services.involvement import KINDS, STATUSES

COLUMNS = (
    "external_id",
    "kind",
    "status",
    "first_name",
    "last_name",
    "name",
    "date_of_birth",
    "address",
    "postcode",
    "started_on",
    "ended_on",
    "allocated_worker_username",
    "team",
    "worker_name",
)
REQUIRED = ("external_id", "kind", "status", "date_of_birth")
LENGTHS = {
    "external_id": 80,
    "name": 200,
    "address": 500,
    "allocated_worker_username": 80,
    "team": 40,
    "worker_name": 120,
}
# The fields of an involvement a re-import may change; a row whose values all match is left untouched.
FIELDS = ("status", "started_on", "ended_on", "allocated_worker_username", "allocated_worker_id", "team", "worker_name")


@dataclass
class RowReport:
    row: int  # as a spreadsheet numbers it: the header is row 1
    accepted: bool
    message: str

    def __str__(self) -> str:
        return f"row {self.row}: {'accepted' if self.accepted else 'refused'} — {self.message}"


@dataclass
class ImportReport:
    rows: list[RowReport] = field(default_factory=list)
    dry_run: bool = False

    @property
    def accepted(self) -> int:
        return sum(r.accepted for r in self.rows)

    @property
    def refused(self) -> int:
        return sum(not r.accepted for r in self.rows)

    def summary(self) -> str:
        saved = "nothing saved (dry run)" if self.dry_run else "accepted rows saved"
        return f"{self.accepted} row(s) accepted, {self.refused} refused; {saved}"


class _Refused(Exception):
    pass


def read_csv(data: bytes) -> list[tuple[int, dict[str, str]]]:
    """The data rows of the file, numbered, as column -> text."""
    header, rows = csv_files.read(data, "record")
    _check_header(header)
    return rows


def _check_header(header: list[str]) -> None:
    expected = ", ".join(COLUMNS)
    if not any(h in COLUMNS for h in header):
        raise FileRefused(
            f"This file has no header row: its first row must name the columns ({expected}). "
            "See docs/records-import.md."
        )
    csv_files.check_header(header, COLUMNS, f"The columns are: {expected}.")
    missing = [c for c in REQUIRED if c not in header]
    if "name" not in header and not {"first_name", "last_name"} <= set(header):
        missing.append("name (or first_name and last_name)")
    csv_files.check_required(header, missing)


def import_file(data: bytes, *, dry_run: bool = False) -> ImportReport:
    """Import an export from the main record system; raises FileRefused when the file cannot be read at all."""
    return import_rows(read_csv(data), source="import", dry_run=dry_run)


def import_rows(rows: Iterable[tuple[int, dict[str, str]]], *, source: str, dry_run: bool = False) -> ImportReport:
    report = ImportReport(dry_run=dry_run)
    seen: dict[tuple[str, str], int] = {}
    _begin()
    for number, record in rows:
        try:
            clean = _validate(record)
            key = (clean["kind"], clean["external_id"])
            if key in seen:
                raise _Refused(
                    f"duplicate external_id {clean['external_id']!r} for kind {clean['kind']}: "
                    f"already on row {seen[key]}"
                )
            seen[key] = number
            with db.session.begin_nested():
                message = _save(clean, source)
        except _Refused as refused:
            report.rows.append(RowReport(number, False, str(refused)))
        except SQLAlchemyError as err:
            report.rows.append(RowReport(number, False, f"could not be saved ({type(err).__name__})"))
        else:
            report.rows.append(RowReport(number, True, message))
    if dry_run:
        db.session.rollback()
    else:
        db.session.commit()
    return report


def _begin() -> None:
    """Open the transaction before the first savepoint. SQLite's driver opens one only for a write, so the
    first savepoint would be the transaction itself and releasing it would commit, even on a dry run."""
    connection = db.session.connection()
    if connection.dialect.name == "sqlite":
        driver = connection.connection.driver_connection
        if driver is not None and not driver.in_transaction:
            connection.exec_driver_sql("BEGIN")


def _validate(record: dict[str, str]) -> dict[str, Any]:
    problems: list[str] = []
    if "__extra__" in record:
        problems.append(f"the row has {record['__extra__']} values but the header names {len(record) - 1} columns")
    value = {c: record.get(c, "").strip() for c in COLUMNS}
    for column, longest in LENGTHS.items():
        if len(value[column]) > longest:
            problems.append(f"{column} is longer than {longest} characters")
    if not value["external_id"]:
        problems.append("missing external_id")
    kind = value["kind"].lower()
    if not kind:
        problems.append("missing kind")
    elif kind not in KINDS:
        problems.append(f"unknown kind {value['kind']!r} (the kinds are {', '.join(KINDS)})")
    status = value["status"].lower()
    if status not in STATUSES:
        problems.append(f"unknown status {value['status']!r} (open or closed)" if status else "missing status")
    name = value["name"] or " ".join(p for p in (value["first_name"], value["last_name"]) if p)
    if not people.name_key(name):
        problems.append("missing name (give name, or first_name and last_name)")
    elif len(name) > LENGTHS["name"]:
        problems.append(f"the name is longer than {LENGTHS['name']} characters")
    dates: dict[str, date | None] = {}
    for column in ("date_of_birth", "started_on", "ended_on"):
        dates[column] = None
        if value[column]:
            try:
                dates[column] = date.fromisoformat(value[column])
            except ValueError:
                problems.append(f"bad date in {column}: {value[column]!r} (write dates as YYYY-MM-DD)")
    if not value["date_of_birth"]:
        problems.append("missing date_of_birth")
    dob, started, ended = dates["date_of_birth"], dates["started_on"], dates["ended_on"]
    today = utcnow().date()
    if dob is not None and dob > today:
        problems.append("date_of_birth is in the future")
    if started is not None and ended is not None and ended < started:
        problems.append(f"ended_on {ended.isoformat()} is before started_on {started.isoformat()}")
    if status == "open" and ended is not None:
        problems.append("an open involvement has no ended_on")
    if kind == "referral" and not value["started_on"]:
        problems.append("a referral needs its date in started_on")
    postcode = people.normalise_postcode(value["postcode"])
    if value["postcode"] and postcode is None:
        problems.append(f"postcode {value['postcode']!r} is not a UK postcode")
    if problems:
        raise _Refused("; ".join(problems))
    return {
        "external_id": value["external_id"],
        "kind": kind,
        "status": status,
        "name": " ".join(name.split()),
        "date_of_birth": dob,
        "address": value["address"] or None,
        "postcode": postcode,
        "started_on": started,
        "ended_on": ended,
        "allocated_worker_username": value["allocated_worker_username"].lower() or None,
        "team": value["team"] or None,
        "worker_name": value["worker_name"] or None,
    }


def _save(clean: dict[str, Any], source: str) -> str:
    existing = db.session.scalar(
        select(Involvement).where(Involvement.kind == clean["kind"], Involvement.external_id == clean["external_id"])
    )
    person, person_said = _person_for(clean, existing)
    worker_id = None
    notes = []
    if clean["allocated_worker_username"]:
        worker_id = db.session.scalar(select(User.id).where(User.username == clean["allocated_worker_username"]))
        if worker_id is None:
            notes.append(f"worker {clean['allocated_worker_username']!r} has no Compass account")
    values = {name: clean.get(name) for name in FIELDS}
    values["allocated_worker_id"] = worker_id
    label = f"{clean['kind']} {clean['external_id']}"
    if existing is None:
        db.session.add(
            Involvement(
                person=person,
                kind=clean["kind"],
                external_id=clean["external_id"],
                source=source,
                imported_at=utcnow(),
                **values,
            )
        )
        said = f"{label} created"
    elif existing.person_id == person.id and all(getattr(existing, k) == v for k, v in values.items()):
        said = f"{label} unchanged"
    else:
        for name, new in values.items():
            setattr(existing, name, new)
        existing.person = person
        existing.imported_at = utcnow()
        said = f"{label} updated"
    db.session.flush()
    return "; ".join([said, f"person {person.id} {person.name} {person_said}", *notes])


def _person_for(clean: dict[str, Any], existing: Involvement | None) -> tuple[Person, str]:
    """The child the row is about: the one the involvement already belongs to if the row still names them,
    else a strong match, else a new person."""
    key, dob = people.name_key(clean["name"]), clean["date_of_birth"]
    person: Person | None = None
    if existing is not None:
        current = db.session.get(Person, existing.person_id)
        if current is not None and current.name_key == key and current.date_of_birth == dob:
            person = current
    if person is None:
        person = people.strong_match(clean["name"], dob, clean["postcode"])
    if person is None:
        person = people.find_or_create_child(
            clean["name"], dob.isoformat(), postcode=clean["postcode"], address=clean["address"]
        )
        db.session.flush()
        return person, "created"
    # The main record system is the source of truth for where a child lives.
    changed = False
    if clean["postcode"] and person.postcode != clean["postcode"]:
        person.postcode, changed = clean["postcode"], True
    if clean["address"] and person.address != clean["address"]:
        person.address, changed = clean["address"], True
    return person, "updated" if changed else "matched"


# --- Demo records --------------------------------------------------------------------------------------------

# Children the demonstration can be walked through with; dates of involvement move with today's date so a
# referral "five months ago" stays within the 12-month re-referral window whenever the demo is run.
DEMO_CHILDREN = [
    # (external id, kind, status, name, date of birth, address, postcode, months ago started, months ago ended,
    #  worker username, team, worker name)
    ("DEMO-SC-1", "social_care", "open", "Ava Thompson", "2015-03-14", "12 Castle Street, Shrewsbury", "SY1 2BQ",
     8, None, "demo.allocated_worker", "assessment", "Demo allocated social worker"),
    ("DEMO-SC-2", "social_care", "open", "Noah Thompson", "2018-07-02", "12 Castle Street, Shrewsbury", "SY1 2BQ",
     8, None, "demo.allocated_worker", "assessment", "Demo allocated social worker"),
    ("DEMO-TEH-1", "targeted_early_help", "open", "Mia Roberts", "2016-11-23", "4 Abbey Foregate, Shrewsbury",
     "SY2 6AE", 3, None, "demo.lead_professional", "early_help", "Demo lead professional"),
    ("DEMO-REF-1", "referral", "closed", "Oliver Evans", "2013-05-30", "7 Mill Lane, Ludlow", "SY8 1BB",
     5, 4, None, "assessment", None),
    ("DEMO-REF-2", "referral", "closed", "Isla Morgan", "2014-09-17", "22 High Street, Oswestry", "SY11 1PZ",
     20, 19, None, "assessment", None),
]  # fmt: skip


def demo_rows(today: date | None = None) -> list[tuple[int, dict[str, str]]]:
    today = today or utcnow().date()
    rows = []
    for n, (ext, kind, status, name, dob, address, postcode, began, ended, worker, team, worker_name) in enumerate(
        DEMO_CHILDREN, start=1
    ):
        rows.append(
            (
                n,
                {
                    "external_id": ext,
                    "kind": kind,
                    "status": status,
                    "name": name,
                    "date_of_birth": dob,
                    "address": address,
                    "postcode": postcode,
                    "started_on": (today - relativedelta(months=began)).isoformat(),
                    "ended_on": (today - relativedelta(months=ended)).isoformat() if ended is not None else "",
                    "allocated_worker_username": worker or "",
                    "team": team or "",
                    "worker_name": worker_name or "",
                },
            )
        )
    return rows


def seed_demo_records(today: date | None = None) -> ImportReport:
    """Known children for a demonstration: two open to the demo allocated worker, one to the demo lead
    professional, and two past referrals, one within 12 months and one beyond. Idempotent."""
    return import_rows(demo_rows(today), source="demo")
