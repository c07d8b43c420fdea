"""A process owner's next version of a flow: a draft edited in the modeller and the form editor, checked on
every save, replayed against the flow's scenarios and recent closed cases, then deployed as a new version.

Nothing runs on a draft. Deploying stores the draft's diagram and forms as one bundle (DESIGN.md rule 7) and
makes it live for new cases; running cases stay on the version they started with until they are moved on
purpose (app/services/case_migration.py). A draft is shared by the flow's process owners; its version
number makes saving over someone else's newer work an error they are told about, with their own work kept.
"""

from __future__ import annotations

import copy
import logging
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm.exc import StaleDataError

from app import schemaforms
from app.engine import specs
from app.engine.specs import BundleRefused, Problem
from app.extensions import db
from app.models import LiveBundle, ProcessBundle, ProcessDraft, ProcessInstance, User
from app.models.types import utcnow
from app.roles import FLOWS
from app.services import audit, bundles

logger = logging.getLogger(__name__)

__all__ = ["FLOWS"]

audit.register(
    {
        "PROCESS_DRAFT_STARTED": {"flow", "draft_id"},
        "PROCESS_DRAFT_SAVED": {"flow", "draft_id"},
        "PROCESS_DRAFT_DISCARDED": {"flow", "draft_id"},
        "PROCESS_DRAFT_REPLAYED": {"flow", "draft_id"},
        "BUNDLE_DEPLOYED": {"flow", "bundle_id"},
    }
)


class DraftChanged(Exception):
    """Someone saved the draft (or deployed it) after the page being sent was drawn."""


class NoDraft(Exception):
    """The flow has no draft: it was deployed or discarded, or never started."""


class FormRefused(Exception):
    def __init__(self, messages: list[str]):
        super().__init__("; ".join(messages))
        self.messages = messages


class DeployRefused(Exception):
    def __init__(self, messages: list[str], problems: list[Problem] | None = None):
        super().__init__("; ".join(messages))
        self.messages = messages
        self.problems = problems or []


@dataclass
class FlowRow:
    flow: str
    name: str
    live_number: int | None
    live_since: Any
    running: int
    draft: ProcessDraft | None


@dataclass
class Checked:
    """What a save found: the draft as stored, and everything that must be put right before it may deploy."""

    draft: ProcessDraft
    problems: list[Problem] = field(default_factory=list)


def known_flow(flow: str) -> bool:
    return flow in FLOWS


def diagram_name(flow: str) -> str:
    return f"{flow}.bpmn"


def flows() -> list[FlowRow]:
    """Every flow with its live version, how many cases run on it, and its draft if one is being edited."""
    live = {row.flow: row for row in db.session.scalars(select(LiveBundle))}
    numbers = dict(
        db.session.execute(
            select(ProcessBundle.flow, ProcessBundle.number).join(LiveBundle, LiveBundle.bundle_id == ProcessBundle.id)
        ).all()
    )
    running = dict(
        db.session.execute(
            select(ProcessInstance.flow, func.count())
            .where(ProcessInstance.status == "running")
            .group_by(ProcessInstance.flow)
        ).all()
    )
    drafts = {d.flow: d for d in db.session.scalars(select(ProcessDraft))}
    return [
        FlowRow(
            flow=flow,
            name=name,
            live_number=numbers.get(flow),
            live_since=live[flow].changed_at if flow in live else None,
            running=int(running.get(flow, 0)),
            draft=drafts.get(flow),
        )
        for flow, name in FLOWS.items()
    ]


def draft_of(flow: str) -> ProcessDraft | None:
    return db.session.scalar(select(ProcessDraft).where(ProcessDraft.flow == flow))


def start_draft(flow: str, user: User) -> ProcessDraft:
    """The flow's draft, begun as a copy of the live version if nobody has one open. Commits."""
    draft = draft_of(flow)
    if draft is not None:
        return draft
    live = bundles.live_bundle(flow)
    draft = ProcessDraft(
        flow=flow,
        files=dict(live.files),
        forms=copy.deepcopy(live.forms),
        base_bundle_id=live.id,
        updated_by_id=user.id,
    )
    try:
        db.session.add(draft)
        db.session.flush()
        audit.record("PROCESS_DRAFT_STARTED", user.id, flow=flow, draft_id=draft.id)
        db.session.commit()
    except IntegrityError:
        # Another owner started one at the same moment (one draft per flow): theirs is the draft.
        db.session.rollback()
        found = draft_of(flow)
        if found is None:
            raise
        return found
    return draft


def _commit() -> None:
    """Commit a change to a draft. Two owners changing the same draft at the same moment both passed the
    version check; the database lets one through, and the other is told as if it had seen the new version."""
    try:
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise DraftChanged("the draft changed while this was being saved") from None


def _editable(flow: str, expected_version: int) -> ProcessDraft:
    # Locked for the rest of the transaction (PostgreSQL): of two owners saving or deploying at once, the
    # second waits, then finds the version moved on or the draft gone, and is told so.
    draft = db.session.scalar(
        select(ProcessDraft)
        .where(ProcessDraft.flow == flow)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    if draft is None:
        raise NoDraft(flow)
    if draft.version != expected_version:
        raise DraftChanged(flow)
    return draft


def _saved(draft: ProcessDraft, user: User) -> None:
    draft.updated_at = utcnow()
    draft.updated_by_id = user.id
    # A changed draft is no longer what was replayed: deploying it needs a new replay.
    draft.replay_hash = None
    draft.replay_report = None
    draft.replayed_at = None
    audit.record("PROCESS_DRAFT_SAVED", user.id, flow=draft.flow, draft_id=draft.id)
    _commit()


def save_diagram(flow: str, xml_text: str, expected_version: int, user: User) -> Checked:
    """Store the modeller's diagram in the draft and check it.

    A diagram that is not safe, well-formed BPMN is refused with nothing saved (BundleRefused). One that is
    but breaks a rule (a form not written yet, a lane with no role) is saved, since a draft may be unfinished,
    and its problems are returned so the modeller can mark each on its element."""
    name = diagram_name(flow)
    specs.safe_xml(xml_text, name)
    draft = _editable(flow, expected_version)
    draft.files = {**draft.files, name: xml_text}
    _saved(draft, user)
    return Checked(draft, problems_of(draft))


def save_form(flow: str, form_id: str, schema: dict[str, Any], expected_version: int, user: User) -> ProcessDraft:
    """Store one form of the draft (a new form id adds a form). A schema the form renderer cannot draw is
    refused with nothing saved."""
    messages = schemaforms.check_form_schema(schema)
    if messages:
        raise FormRefused(messages)
    draft = _editable(flow, expected_version)
    draft.forms = {**draft.forms, form_id: schema}
    _saved(draft, user)
    return draft


def discard(flow: str, expected_version: int, user: User) -> None:
    draft = _editable(flow, expected_version)
    audit.record("PROCESS_DRAFT_DISCARDED", user.id, flow=flow, draft_id=draft.id)
    db.session.delete(draft)
    _commit()


def problems_of(draft: ProcessDraft, trial: bool = False) -> list[Problem]:
    """Everything that stops the draft from deploying, each naming its element (or form) to mark."""
    try:
        bundles.check(draft.flow, draft.files, draft.forms, trial=trial)
    except BundleRefused as refused:
        return list(refused.problems)
    except Exception:
        # A check that breaks on some diagram must not make the draft impossible to open, fix or discard.
        logger.exception("checking the draft of %s failed", draft.flow)
        return [Problem(draft.flow, "the diagram could not be checked; it cannot be deployed until it can be")]
    return []


def draft_hash(draft: ProcessDraft) -> str:
    return specs.bundle_hash(draft.files, draft.forms)


def replay(flow: str, expected_version: int, user: User, recent: int = 50) -> ProcessDraft:
    """Run the draft against the flow's scenarios and its recent closed cases, and keep the report with the
    content hash it ran on.

    The draft runs only once it has passed every check, its trial run too (the trial is what bounds a
    script's memory and time). The replay takes a while, so no lock is held during it: the report is kept
    only if the draft is still what was replayed, and otherwise the owner is told to replay again."""
    from app.services import replay as replays

    draft = draft_of(flow)
    if draft is None:
        raise NoDraft(flow)
    if draft.version != expected_version:
        raise DraftChanged(flow)
    problems = problems_of(draft, trial=True)
    if problems:
        raise DeployRefused(["Put the problems right before replaying the draft."], problems)
    files, forms, digest = dict(draft.files), copy.deepcopy(draft.forms), draft_hash(draft)
    db.session.rollback()
    report = replays.replay(flow, files, forms, recent=recent)
    draft = _editable(flow, expected_version)
    if draft_hash(draft) != digest:
        raise DraftChanged(flow)
    draft.replay_report = report
    draft.replay_hash = digest
    draft.replayed_at = utcnow()
    audit.record("PROCESS_DRAFT_REPLAYED", user.id, flow=flow, draft_id=draft.id)
    _commit()
    return draft


def deploy(flow: str, note: str, expected_version: int, user: User) -> ProcessBundle:
    """Make the draft the flow's live version, in one transaction: stored as a bundle with the note, live
    for new cases, the draft gone. Running cases are not touched."""
    note = (note or "").strip()
    draft = _editable(flow, expected_version)
    messages: list[str] = []
    if not note:
        messages.append("Say what this version changes, for the version history")
    elif len(note) > 2000:
        messages.append("The note must be 2,000 characters or fewer")
    digest = draft_hash(draft)
    if draft.replay_hash != digest:
        messages.append("Replay the draft against the scenarios and recent cases before deploying it")
    live = db.session.get(LiveBundle, flow)
    if live is not None and live.bundle.hash == digest:
        messages.append("The draft is the same as the live version: there is nothing to deploy")
    problems = problems_of(draft, trial=True)
    if problems:
        messages.append("Put the problems with the draft right first")
    if messages:
        raise DeployRefused(messages, problems)
    existing = db.session.scalar(select(ProcessBundle).where(ProcessBundle.hash == digest))
    if existing is None:
        bundle = ProcessBundle(
            flow=flow,
            hash=digest,
            files=dict(draft.files),
            forms=copy.deepcopy(draft.forms),
            note=note,
            number=bundles.next_number(flow),
            created_by_id=user.id,
        )
        db.session.add(bundle)
        db.session.flush()
    else:
        # The same diagram and forms as an earlier version: that version is made live again, under its number.
        bundle = existing
    audit.record("BUNDLE_DEPLOYED", user.id, flow=flow, bundle_id=bundle.id)
    db.session.delete(draft)
    bundles.make_live(bundle.id, user_id=user.id, commit=False)
    _commit()
    return bundle


def version(flow: str, number: int) -> ProcessBundle | None:
    return db.session.scalar(select(ProcessBundle).where(ProcessBundle.flow == flow, ProcessBundle.number == number))


def number_of(bundle_id: int | None) -> int | None:
    if bundle_id is None:
        return None
    bundle = db.session.get(ProcessBundle, bundle_id)
    return bundle.number if bundle is not None else None


def live_bundle_id(flow: str) -> int | None:
    live = db.session.get(LiveBundle, flow)
    return live.bundle_id if live is not None else None
