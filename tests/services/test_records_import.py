"""Importing the main record system's export: a per-row report, refused rows write nothing, accepted rows are
kept, and importing the same file again changes nothing. Run through the real command line."""

from __future__ import annotations

from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select
from support import user

from app.extensions import db
from app.models import Involvement, Person
from app.services import involvement, people, records_import

ROOT = Path(__file__).resolve().parents[2]
HEADER = (
    "external_id,kind,status,first_name,last_name,date_of_birth,address,postcode,started_on,ended_on,"
    "allocated_worker_username,team,worker_name"
)
GOOD = [
    "SC-1,social_care,open,Ruby,Hughes,2014-02-11,3 Wyle Cop,sy11xb,2025-06-02,,demo.allocated_worker,assessment,Ann",
    "TEH-1,targeted_early_help,open,Alfie,Price,2017-09-05,,SY8 1DZ,2025-09-22,,demo.lead_professional,early_help,",
    "REF-1,referral,closed,Freya,Lewis,2012-12-01,,,2025-03-18,2025-04-30,,assessment,",
]


def invoke(app: Flask, *args: str):
    db.session.commit()
    result = app.test_cli_runner().invoke(args=list(args))
    db.session.expire_all()
    return result


def write(tmp_path: Path, lines: list[str], name: str = "records.csv", header: str = HEADER) -> str:
    path = tmp_path / name
    path.write_text("\n".join([header, *lines]) + "\n", encoding="utf-8")
    return str(path)


def counts() -> tuple[int, int]:
    return (
        db.session.scalar(select(func.count()).select_from(Involvement)) or 0,
        db.session.scalar(select(func.count()).select_from(Person)) or 0,
    )


def test_accepted_rows_are_reported_and_saved(fresh, tmp_path: Path) -> None:
    result = invoke(fresh, "import-records", write(tmp_path, GOOD))
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    ruby = db.session.scalar(select(Person).where(Person.name_key == "ruby hughes"))
    assert ruby is not None
    assert lines[0] == f"row 2: accepted — social_care SC-1 created; person {ruby.id} Ruby Hughes created"
    assert lines[1].startswith("row 3: accepted — targeted_early_help TEH-1 created; person ")
    assert lines[3] == "3 row(s) accepted, 0 refused; accepted rows saved"
    assert ruby.postcode == "SY1 1XB" and ruby.address == "3 Wyle Cop"
    (open_case,) = involvement.open_involvement(ruby.id)
    assert (open_case.kind, open_case.status, open_case.team, open_case.worker_name) == (
        "social_care",
        "open",
        "assessment",
        "Ann",
    )
    assert open_case.allocated_worker_id == user("allocated_worker").id
    assert open_case.source == "import" and open_case.started_on.isoformat() == "2025-06-02"
    # An imported child is found by search like any other.
    assert [c.person.id for c in people.match_children("Ruby Hughs")] == [ruby.id]


def test_a_child_already_known_is_matched_not_duplicated(fresh, tmp_path: Path) -> None:
    known = people.find_or_create_child("Ruby Hughes", "2014-02-11")
    db.session.commit()
    rows = [GOOD[0], "CPP-1,child_protection_plan,open,Ruby,Hughes,2014-02-11,,,2025-07-14,,,assessment,"]
    result = invoke(fresh, "import-records", write(tmp_path, rows))
    assert result.exit_code == 0, result.output
    assert f"person {known.id} Ruby Hughes updated" in result.output.splitlines()[0]  # gained address and postcode
    assert f"person {known.id} Ruby Hughes matched" in result.output.splitlines()[1]
    assert counts() == (2, 1)


REFUSALS = [
    (",social_care,open,Ann,Bell,2014-02-11,,,2025-01-01,,,,", "missing external_id"),
    ("X-1,open_case,open,Ann,Bell,2014-02-11,,,2025-01-01,,,,", "unknown kind 'open_case'"),
    ("X-1,social_care,pending,Ann,Bell,2014-02-11,,,2025-01-01,,,,", "unknown status 'pending'"),
    ("X-1,social_care,open,,,2014-02-11,,,2025-01-01,,,,", "missing name"),
    ("X-1,social_care,open,Ann,Bell,,,,2025-01-01,,,,", "missing date_of_birth"),
    ("X-1,social_care,open,Ann,Bell,11/02/2014,,,2025-01-01,,,,", "bad date in date_of_birth: '11/02/2014'"),
    ("X-1,social_care,open,Ann,Bell,2014-02-30,,,2025-01-01,,,,", "bad date in date_of_birth: '2014-02-30'"),
    ("X-1,social_care,closed,Ann,Bell,2014-02-11,,,2025-01-01,2024-12-31,,,", "ended_on 2024-12-31 is before"),
    ("X-1,social_care,open,Ann,Bell,2014-02-11,,,2025-01-01,2025-02-01,,,", "an open involvement has no ended_on"),
    ("X-1,referral,closed,Ann,Bell,2014-02-11,,,,,,,", "a referral needs its date in started_on"),
    ("X-1,social_care,open,Ann,Bell,2014-02-11,,ZZ,2025-01-01,,,,", "postcode 'ZZ' is not a UK postcode"),
    ("X-1,social_care,open,Ann,Bell,2099-01-01,,,2025-01-01,,,,", "date_of_birth is in the future"),
    ("X-1,social_care,open,Ann,Bell,2014-02-11,,,2025-01-01,,,,,surplus", "the row has 14 values"),
    (f"X-1,social_care,open,{'A' * 150},{'B' * 60},2014-02-11,,,2025-01-01,,,,", "the name is longer than 200"),
]


@pytest.mark.parametrize(("row", "reason"), REFUSALS, ids=[r for _, r in REFUSALS])
def test_each_refused_row_says_why_and_writes_nothing(fresh, tmp_path: Path, row: str, reason: str) -> None:
    result = invoke(fresh, "import-records", write(tmp_path, [GOOD[0], row, GOOD[1]]))
    assert result.exit_code == 1, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("row 2: accepted")
    assert lines[1].startswith("row 3: refused — ") and reason in lines[1], lines[1]
    assert lines[2].startswith("row 4: accepted")
    assert lines[3] == "2 row(s) accepted, 1 refused; accepted rows saved"
    # The rows around it are kept; the refused row left no involvement and no person behind.
    assert sorted(db.session.scalars(select(Involvement.external_id))) == ["SC-1", "TEH-1"]
    assert db.session.scalar(select(Person).where(Person.name_key == "ann bell")) is None


def test_every_problem_with_a_row_is_named_at_once(fresh, tmp_path: Path) -> None:
    result = invoke(fresh, "import-records", write(tmp_path, ["X-9,social_care,maybe,,,,,,2025-01-01,,,,"]))
    assert result.exit_code == 1
    (line, _summary) = result.output.splitlines()
    assert line.startswith("row 2: refused — unknown status 'maybe'")
    assert "; missing name" in line and "; missing date_of_birth" in line


def test_a_duplicate_external_id_in_the_file_is_refused(fresh, tmp_path: Path) -> None:
    again = GOOD[0].replace("Ruby,Hughes,2014-02-11", "Rubie,Hughes,2014-02-12")
    result = invoke(fresh, "import-records", write(tmp_path, [GOOD[0], again]))
    assert result.exit_code == 1
    assert "row 3: refused — duplicate external_id 'SC-1' for kind social_care: already on row 2" in result.output
    assert counts() == (1, 1)


def test_importing_the_same_file_again_changes_nothing(fresh, tmp_path: Path) -> None:
    path = write(tmp_path, GOOD)
    assert invoke(fresh, "import-records", path).exit_code == 0
    before = [
        (i.id, i.person_id, i.imported_at) for i in db.session.scalars(select(Involvement).order_by(Involvement.id))
    ]
    second = invoke(fresh, "import-records", path)
    assert second.exit_code == 0, second.output
    assert "row 2: accepted — social_care SC-1 unchanged" in second.output
    assert "created" not in second.output
    after = [
        (i.id, i.person_id, i.imported_at) for i in db.session.scalars(select(Involvement).order_by(Involvement.id))
    ]
    assert after == before and counts() == (3, 3)


def test_a_later_export_updates_by_external_id(fresh, tmp_path: Path) -> None:
    assert invoke(fresh, "import-records", write(tmp_path, GOOD)).exit_code == 0
    closed = GOOD[0].replace(",open,", ",closed,").replace("2025-06-02,,", "2025-06-02,2025-11-01,")
    result = invoke(fresh, "import-records", write(tmp_path, [closed], name="later.csv"))
    assert result.exit_code == 0, result.output
    assert "row 2: accepted — social_care SC-1 updated" in result.output
    row = db.session.scalar(select(Involvement).where(Involvement.external_id == "SC-1"))
    assert row.status == "closed" and row.ended_on.isoformat() == "2025-11-01"
    assert involvement.open_involvement(row.person_id) == []
    assert counts() == (3, 3)


def test_a_spreadsheet_export_with_a_byte_order_mark_and_windows_line_endings_is_read(fresh, tmp_path: Path) -> None:
    path = tmp_path / "excel.csv"
    text = "\r\n".join(
        [
            HEADER.replace("first_name,last_name", "name"),
            'SC-7,Social_Care,OPEN,"Hughes, Ruby",2014-02-11,,,2025-06-02,,,,',
        ]
    )
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8") + b"\r\n\r\n")
    result = invoke(fresh, "import-records", str(path))
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[0].startswith("row 2: accepted — social_care SC-7 created")
    assert db.session.scalar(select(Person.name)) == "Hughes, Ruby"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe", "is not a CSV file"),
        (b"SC-1,social_care,open,Ruby,Hughes,2014-02-11\n", "has no header row"),
        (b"", "is empty"),
        (b"external_id,kind,status,name,date_of_birth,colour\n", "unknown column(s): colour"),
        (b"external_id,kind,name\n", "lacks required column(s): status, date_of_birth"),
    ],
)
def test_a_file_that_cannot_be_read_gets_one_clear_message(fresh, tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "bad.csv"
    path.write_bytes(content)
    result = invoke(fresh, "import-records", str(path))
    assert result.exit_code == 1
    assert len(result.output.strip().splitlines()) == 1 and message in result.output, result.output
    assert "Traceback" not in result.output
    assert counts() == (0, 0)


def test_a_missing_file_is_one_clear_message(fresh, tmp_path: Path) -> None:
    result = invoke(fresh, "import-records", str(tmp_path / "nowhere.csv"))
    assert result.exit_code == 1 and "cannot read" in result.output


def test_a_dry_run_reports_and_saves_nothing(fresh, tmp_path: Path) -> None:
    result = invoke(fresh, "import-records", write(tmp_path, [*GOOD, "BAD,social_care,open,,,,,,,,,,"]), "--dry-run")
    assert result.exit_code == 1
    assert "row 2: accepted — social_care SC-1 created" in result.output
    assert "3 row(s) accepted, 1 refused; nothing saved (dry run)" in result.output
    assert counts() == (0, 0)


def test_the_sample_file_in_the_docs_imports_cleanly(fresh) -> None:
    result = invoke(fresh, "import-records", str(ROOT / "docs" / "examples" / "records.csv"))
    assert result.exit_code == 0, result.output
    assert "6 row(s) accepted, 0 refused" in result.output


def test_demo_records_are_idempotent_and_known(fresh) -> None:
    first = invoke(fresh, "demo-records")
    assert first.exit_code == 0, first.output
    assert "5 row(s) accepted, 0 refused" in first.output
    second = invoke(fresh, "demo-records")
    assert second.exit_code == 0 and "created" not in second.output, second.output
    assert counts() == (5, 5)

    def person(name: str) -> Person:
        found = db.session.scalar(select(Person).where(Person.name_key == people.name_key(name)))
        assert found is not None, name
        return found

    worker = user("allocated_worker").id
    for name in ("Ava Thompson", "Noah Thompson"):
        (open_case,) = involvement.open_involvement(person(name).id)
        assert open_case.kind == "social_care" and open_case.allocated_worker_id == worker
        assert open_case.source == "demo"
    (early_help,) = involvement.open_involvement(person("Mia Roberts").id)
    assert early_help.kind == "targeted_early_help"
    assert early_help.allocated_worker_id == user("lead_professional").id
    today = records_import.utcnow().date()
    assert involvement.previous_referral_within(person("Oliver Evans").id, today) is not None
    assert involvement.previous_referral_within(person("Isla Morgan").id, today) is None


def test_demo_records_are_refused_outside_demo_mode(fresh) -> None:
    fresh.config["COMPASS_DEMO"] = False
    try:
        result = invoke(fresh, "demo-records")
    finally:
        fresh.config["COMPASS_DEMO"] = True
    assert result.exit_code == 1 and "COMPASS_DEMO=1" in result.output
    assert counts() == (0, 0)
