"""Diagram bundles in the database: import the shipped ones, check them, choose the live version."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import func, select

import handlers
from app import schemaforms
from app.engine import specs
from app.engine.specs import BundleRefused, ParsedBundle, Problem
from app.extensions import db
from app.models import LiveBundle, ProcessBundle
from app.models.types import utcnow
from app.roles import ROLES
from app.services import audit

ROOT = Path(__file__).resolve().parents[2]
PROCESSES_DIR = ROOT / "processes"
FORMS_DIR = ROOT / "forms"


@dataclass(frozen=True)
class ImportReport:
    flow: str
    bundle_id: int
    created: bool
    live: bool


def parsed(bundle: ProcessBundle) -> ParsedBundle:
    # The diagrams and forms are the row's biggest columns (read only when asked for): they are read the first
    # time this process meets the bundle, and after that its content hash finds the parsed bundle alone.
    found = specs.cached(bundle.hash)
    if found is not None:
        return found
    return specs.load(bundle.flow, bundle.files, bundle.forms, bundle.hash)


def live_bundle(flow: str) -> ProcessBundle:
    live = db.session.get(LiveBundle, flow)
    if live is None:
        raise LookupError(f"no version of the {flow} flow is live; run the import of processes/")
    return live.bundle


def forms_named(files: dict[str, str]) -> set[str]:
    """The form ids the diagrams' user tasks name."""
    names = set()
    for name, text in files.items():
        tree = specs.safe_xml(text, name)
        for prop in tree.iter(f"{{{specs.SPIFF}}}property"):
            if prop.get("name") == specs.FORM_PROPERTY:
                form_id = specs.form_id_of(prop.get("value"))
                if form_id:
                    names.add(form_id)
    return names


def check(flow: str, files: dict[str, str], forms: dict[str, Any], trial: bool = True) -> ParsedBundle:
    """Parse and check a bundle; raise BundleRefused listing every problem, each naming its element."""
    bundle = specs.parse(flow, files, forms)
    problems: list[Problem] = []
    for form_id, schema in forms.items():
        problems += [Problem(f"form {form_id}", msg) for msg in schemaforms.check_form_schema(schema)]
    names = handlers.names()
    takes = {name: specs.parameters_read(handlers.get(name)) for name in names}
    problems += specs.check(bundle, roles=ROLES, handlers=names, trial=trial, handler_parameters=takes)
    if problems:
        raise BundleRefused(problems)
    return bundle


def read_shipped(flow: str, processes_dir: Path = PROCESSES_DIR, forms_dir: Path = FORMS_DIR) -> tuple[dict, dict]:
    files = {f"{flow}.bpmn": (processes_dir / f"{flow}.bpmn").read_text(encoding="utf-8")}
    forms: dict[str, Any] = {}
    missing = []
    for form_id in sorted(forms_named(files)):
        path = forms_dir / f"{form_id}.json"
        if path.exists():
            forms[form_id] = json.loads(path.read_text(encoding="utf-8"))
        else:
            missing.append(Problem(form_id, f"the form file forms/{form_id}.json does not exist"))
    if missing:
        raise BundleRefused(missing)
    return files, forms


def import_shipped(processes_dir: Path = PROCESSES_DIR, forms_dir: Path = FORMS_DIR) -> list[ImportReport]:
    """Import every diagram in processes/ with its forms. Idempotent by content hash; a flow with no live
    version yet gets this one. One transaction: a refused bundle leaves nothing half-imported."""
    reports = []
    try:
        for path in sorted(processes_dir.glob("*.bpmn")):
            flow = path.stem
            files, forms = read_shipped(flow, processes_dir, forms_dir)
            reports.append(_store(flow, files, forms, note=f"shipped with the code: processes/{path.name}"))
        db.session.commit()
    except Exception:
        db.session.rollback()
        raise
    return reports


# Bundles (by content hash) this process has checked and found sound. The checks depend only on the bundle
# and the code that reads it, so a bundle imported again (a database emptied and filled anew) is not checked
# twice: the trial run alone starts a sandbox process per diagram.
_PASSED_CHECKS: set[str] = set()


def _store(flow: str, files: dict[str, str], forms: dict[str, Any], note: str) -> ImportReport:
    digest = specs.bundle_hash(files, forms)
    row = db.session.scalar(select(ProcessBundle).where(ProcessBundle.hash == digest))
    created = row is None
    if row is None:
        if digest not in _PASSED_CHECKS:
            check(flow, files, forms)
            _PASSED_CHECKS.add(digest)
        row = ProcessBundle(flow=flow, hash=digest, files=files, forms=forms, note=note, number=next_number(flow))
        db.session.add(row)
        db.session.flush()
        audit.record("BUNDLE_IMPORTED", bundle_id=row.id, flow=flow)
    live = db.session.get(LiveBundle, flow)
    made_live = False
    if live is None:
        db.session.add(LiveBundle(flow=flow, bundle_id=row.id))
        audit.record("BUNDLE_MADE_LIVE", bundle_id=row.id, flow=flow)
        made_live = True
    return ImportReport(
        flow=flow, bundle_id=row.id, created=created, live=made_live or (live is not None and live.bundle_id == row.id)
    )


def next_number(flow: str) -> int:
    """The number the next stored version of a flow takes (versions are never deleted, so never reused)."""
    highest = db.session.scalar(select(func.max(ProcessBundle.number)).where(ProcessBundle.flow == flow))
    return int(highest or 0) + 1


def make_live(bundle_id: int, user_id: int | None = None, commit: bool = True) -> None:
    bundle = db.session.get(ProcessBundle, bundle_id)
    if bundle is None:
        raise LookupError(f"no bundle {bundle_id}")
    live = db.session.get(LiveBundle, bundle.flow)
    if live is None:
        db.session.add(LiveBundle(flow=bundle.flow, bundle_id=bundle.id))
    else:
        live.bundle_id = bundle.id
        live.changed_at = utcnow()
    audit.record("BUNDLE_MADE_LIVE", user_id, bundle_id=bundle.id, flow=bundle.flow)
    db.session.flush()
    # Hand-overs that waited for this flow to exist start now, in the same transaction.
    from app.services import handovers

    handovers.start_all_waiting(bundle.flow)
    if commit:
        db.session.commit()
