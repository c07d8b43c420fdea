"""A flow's versions, and the running cases moved from an older version to the live one.

A case runs on the version it started with until a process owner moves it on purpose (DESIGN.md rule 7): first a
preview of every running instance not on the live version (can it move, why not, what changes for it), then a
move of one instance or of all that can, each in a transaction of its own. A move keeps the saved state as it
was, byte for byte, so it can be undone while the case has not moved on since.

Process owners see flows, case numbers and step names, never a child's details; the case numbers of
need-to-know work (a LADO allegation, an information request) only when they may read that work.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from sqlalchemy import func, select
from sqlalchemy.orm.exc import StaleDataError

from app import policy
from app.engine import runtime, versions
from app.engine.versions import BundleDiff, FormDiff
from app.extensions import db
from app.models import (
    Case,
    InstanceMigration,
    LiveBundle,
    ProcessBundle,
    ProcessInstance,
    Task,
    TaskClock,
    User,
)
from app.models.types import utcnow
from app.roles import FLOWS
from app.services import audit, bundles, workflow
from app.services.errors import NotFound, NotSaved

audit.register(
    {
        "INSTANCE_MIGRATED": {"case_id", "instance_id", "migration_id", "bundle_id"},
        "INSTANCE_MIGRATION_REVERTED": {"case_id", "instance_id", "migration_id"},
    }
)

OPEN = ("running", "failed")  # an instance still in flight: a failed one waits for its step to be run again
LARGEST_NUMBER = 999_999  # a version number past this is not one a flow could have


# --- Versions ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Version:
    bundle_id: int
    number: int | None
    created_at: datetime
    created_by: str | None  # who deployed it; none for a version shipped with the code
    note: str
    live: bool
    running: int  # instances in flight on it


def flow_name(flow: str) -> str:
    return FLOWS.get(flow, flow)


def known_flow(flow: str) -> bool:
    return flow in FLOWS or db.session.scalar(select(ProcessBundle.id).where(ProcessBundle.flow == flow)) is not None


def _require_flow(flow: str) -> None:
    if not known_flow(flow):
        raise NotFound(flow)


def history(flow: str) -> list[Version]:
    """Every version of a flow, newest first: its number, when and by whom it was stored, its note, whether it
    is live, and how many cases in flight run on it (voided cases are not counted)."""
    _require_flow(flow)
    live = db.session.get(LiveBundle, flow)
    running = dict(
        db.session.execute(
            select(ProcessInstance.bundle_id, func.count())
            .join(Case, Case.id == ProcessInstance.case_id)
            .where(ProcessInstance.flow == flow, ProcessInstance.status.in_(OPEN), Case.voided_at.is_(None))
            .group_by(ProcessInstance.bundle_id)
        ).all()
    )
    rows = db.session.execute(
        select(ProcessBundle, User.name)
        .outerjoin(User, User.id == ProcessBundle.created_by_id)
        .where(ProcessBundle.flow == flow)
        .order_by(ProcessBundle.number.desc(), ProcessBundle.id.desc())
    ).all()
    return [
        Version(
            bundle_id=bundle.id,
            number=bundle.number,
            created_at=bundle.created_at,
            created_by=name,
            note=bundle.note or "",
            live=live is not None and live.bundle_id == bundle.id,
            running=int(running.get(bundle.id, 0)),
        )
        for bundle, name in rows
    ]


@dataclass(frozen=True)
class Comparison:
    flow: str
    old: Version
    new: Version
    elements: BundleDiff
    forms: list[FormDiff]

    @property
    def same(self) -> bool:
        return self.elements.same and not self.forms


class NothingToCompare(Exception):
    """There is no earlier version to compare with: the flow has one version, or the one asked for is its first."""


def version_number(text: str | None, which: str) -> int | None:
    """A version number typed into an address: None when left out; a clear refusal when it is not one."""
    if text is None or text.strip() == "":
        return None
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or len(value) > 6 or int(value) < 1:
        raise NotSaved(f"The {which} version must be a whole number from 1 to {LARGEST_NUMBER:,}, like 2")
    return int(value)


def compare(flow: str, from_number: int | None, to_number: int | None) -> Comparison:
    """Two versions of a flow side by side. Left out, `to` is the newest version and `from` the one before `to`.
    Raises NotFound for a version the flow does not have (with its numbers in the message) and NothingToCompare,
    with the reason in words, when there is no earlier version to compare with."""
    found = history(flow)
    by_number = {v.number: v for v in found if v.number is not None}
    numbers = sorted(by_number)
    for asked in (from_number, to_number):
        if asked is not None and asked not in by_number:
            listed = ", ".join(str(n) for n in numbers) or "none"
            raise NotFound(f"The {flow_name(flow)} flow has no version {asked} (its versions: {listed})")
    if to_number is None:
        if not numbers:
            raise NothingToCompare(
                f"The {flow_name(flow)} flow has no numbered version yet: there is nothing to compare"
            )
        to_number = numbers[-1]
    if from_number is None:
        older = [n for n in numbers if n < to_number]
        if not older:
            if len(numbers) < 2:
                raise NothingToCompare("This flow has one version so far: there is nothing to compare it with yet")
            raise NothingToCompare(f"Version {to_number} is the first version: choose a later one to compare it with")
        from_number = older[-1]
    old, new = by_number[from_number], by_number[to_number]
    old_bundle = bundles.parsed(_bundle(old.bundle_id))
    new_bundle = bundles.parsed(_bundle(new.bundle_id))
    return Comparison(
        flow=flow,
        old=old,
        new=new,
        elements=versions.diff_bundles(old_bundle, new_bundle),
        forms=versions.diff_forms(old_bundle.forms, new_bundle.forms),
    )


def _bundle(bundle_id: int) -> ProcessBundle:
    row = db.session.get(ProcessBundle, bundle_id)
    if row is None:
        raise NotFound(bundle_id)
    return row


# --- The preview -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class InstancePreview:
    instance_id: int
    case_id: int | None  # None when the user may not see which case this need-to-know work belongs to
    status: str
    from_number: int | None
    steps: tuple[str, ...]
    can_move: bool
    reasons: tuple[str, ...]
    changes: tuple[str, ...]


@dataclass(frozen=True)
class Moved:
    """A move already made, for the list of moves that can be undone."""

    migration_id: int
    instance_id: int
    case_id: int | None
    from_number: int | None
    to_number: int | None
    migrated_at: datetime
    migrated_by: str | None
    reverted_at: datetime | None
    undoable: bool
    changes: list[str]


@dataclass(frozen=True)
class Preview:
    flow: str
    live: Version | None
    instances: list[InstancePreview]
    moved: list[Moved] = field(default_factory=list)

    @property
    def movable(self) -> int:
        return sum(1 for i in self.instances if i.can_move)


def _case_shown(user: User, flow: str, case_id: int) -> int | None:
    """The case number of an instance, unless the flow's work is need-to-know and the user not one to know it."""
    if not policy.can_see_timeline_entry(user, flow):
        return None
    if flow == "information_request" and not policy.can_see_information_requests(user):
        return None
    return case_id


def _behind(flow: str, live_id: int) -> list[ProcessInstance]:
    query = (
        select(ProcessInstance)
        .join(Case, Case.id == ProcessInstance.case_id)
        .where(
            ProcessInstance.flow == flow,
            ProcessInstance.status.in_(OPEN),
            ProcessInstance.bundle_id != live_id,
            Case.voided_at.is_(None),
        )
        .order_by(ProcessInstance.case_id, ProcessInstance.id)
    )
    return list(db.session.scalars(query))


def preview(user: User, flow: str) -> Preview:
    """Every instance of the flow in flight on a version other than the live one: whether it can move to the live
    version, why not, and what changes for it; and the moves made so far, newest first."""
    _require_flow(flow)
    live = db.session.get(LiveBundle, flow)
    live_version = next((v for v in history(flow) if v.live), None)
    if live is None:
        return Preview(flow, None, [], _moves(user, flow))
    new = bundles.parsed(live.bundle)
    rows = []
    for instance in _behind(flow, live.bundle_id):
        found = versions.migration_preview(instance.state, bundles.parsed(instance.bundle), new)
        rows.append(
            InstancePreview(
                instance_id=instance.id,
                case_id=_case_shown(user, flow, instance.case_id),
                status=instance.status,
                from_number=instance.bundle.number,
                steps=found.steps,
                can_move=found.can_move,
                reasons=found.reasons,
                changes=found.changes,
            )
        )
    return Preview(flow, live_version, rows, _moves(user, flow))


def _moves(user: User, flow: str, limit: int = 50) -> list[Moved]:
    rows = db.session.execute(
        select(InstanceMigration, User.name, ProcessInstance.version, ProcessInstance.bundle_id)
        .join(ProcessInstance, ProcessInstance.id == InstanceMigration.instance_id)
        .outerjoin(User, User.id == InstanceMigration.migrated_by_id)
        .where(InstanceMigration.flow == flow)
        .order_by(InstanceMigration.id.desc())
        .limit(limit)
    ).all()
    numbers = {
        bundle_id: number
        for bundle_id, number in db.session.execute(
            select(ProcessBundle.id, ProcessBundle.number).where(ProcessBundle.flow == flow)
        )
    }
    return [
        Moved(
            migration_id=m.id,
            instance_id=m.instance_id,
            case_id=_case_shown(user, flow, m.case_id),
            from_number=numbers.get(m.from_bundle_id),
            to_number=numbers.get(m.to_bundle_id),
            migrated_at=m.migrated_at,
            migrated_by=name,
            reverted_at=m.reverted_at,
            undoable=m.reverted_at is None and version == m.version_after and bundle_id == m.to_bundle_id,
            changes=list(m.changes or []),
        )
        for m, name, version, bundle_id in rows
    ]


# --- Moving ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    instance_id: int
    case_id: int | None
    moved: bool
    migration_id: int | None
    reasons: tuple[str, ...] = ()
    changes: tuple[str, ...] = ()


@dataclass(frozen=True)
class Report:
    flow: str
    to_number: int | None
    outcomes: list[Outcome]

    @property
    def moved(self) -> list[Outcome]:
        return [o for o in self.outcomes if o.moved]

    @property
    def not_moved(self) -> list[Outcome]:
        return [o for o in self.outcomes if not o.moved]


def _live_as_shown(flow: str, shown_number: int | None) -> LiveBundle:
    """The live version, if it is still the one the page showed: a version made live since is one the process
    owner has not seen the preview of."""
    live = _live(flow)
    if shown_number is not None and live.bundle.number != shown_number:
        raise NotSaved(
            f"Version {live.bundle.number} went live after this page was drawn: look at what moving to it changes first"
        )
    return live


def migrate_one(user: User, flow: str, instance_id: int, shown_number: int | None = None) -> Report:
    """Move one instance of the flow to its live version, in one transaction, and report how it went."""
    live = _live_as_shown(flow, shown_number)
    instance = db.session.get(ProcessInstance, instance_id)
    if instance is None or instance.flow != flow:
        raise NotFound(instance_id)
    if instance.status not in OPEN:
        raise NotSaved(f"That flow has {_finished(instance.status)}: only a case still in flight is moved")
    if instance.bundle_id == live.bundle_id:
        raise NotSaved("That case already runs on the live version")
    return Report(flow, live.bundle.number, [_attempt(user, instance.id, live.bundle_id)])


def migrate_all(user: User, flow: str, shown_number: int | None = None) -> Report:
    """Move every instance of the flow that can move to its live version, each in a transaction of its own, so
    one that cannot move (or that someone changes meanwhile) leaves the others moved. The report names each."""
    live = _live_as_shown(flow, shown_number)
    # The version the process owner looked at: a newer one made live meanwhile is not one they have seen.
    to_bundle_id, to_number = live.bundle_id, live.bundle.number
    ids = [i.id for i in _behind(flow, to_bundle_id)]
    db.session.rollback()  # nothing read for the list is kept across the moves
    return Report(flow, to_number, [_attempt(user, instance_id, to_bundle_id) for instance_id in ids])


def _finished(status: str) -> str:
    return {"completed": "finished", "cancelled": "been stopped (its contact was voided)"}.get(status, status)


def _live(flow: str) -> LiveBundle:
    _require_flow(flow)
    live = db.session.get(LiveBundle, flow)
    if live is None:
        raise NotSaved(f"No version of the {flow_name(flow)} flow is live yet")
    return live


def _attempt(user: User, instance_id: int, to_bundle_id: int) -> Outcome:
    """One move, in a transaction of its own. The instance is read afresh and locked (on PostgreSQL) before
    anything is decided: the list of cases was made earlier, and since then one may have finished, had its
    contact voided or been moved by someone else, or a newer version may have gone live."""
    case_id = None
    try:
        instance = db.session.scalar(
            select(ProcessInstance)
            .where(ProcessInstance.id == instance_id)
            .with_for_update()
            .execution_options(populate_existing=True)
        )
        if instance is None:
            raise NotFound(instance_id)
        case_id = _case_shown(user, instance.flow, instance.case_id)
        skipped = _skipped(instance, to_bundle_id)
        if skipped is not None:
            db.session.rollback()
            return Outcome(instance_id, case_id, False, None, reasons=(f"Skipped: {skipped}",))
        migration = _move(user, instance, _bundle(to_bundle_id))
        outcome = Outcome(instance_id, case_id, True, migration.id, changes=tuple(migration.changes))
        db.session.commit()
        return outcome
    except versions.MigrationRefused as err:
        db.session.rollback()
        return Outcome(instance_id, case_id, False, None, reasons=tuple(err.reasons))
    except StaleDataError:
        db.session.rollback()
        reason = "Someone acted on the case while it was being moved; it was left as it is: try again"
        return Outcome(instance_id, case_id, False, None, reasons=(reason,))
    except NotSaved as err:
        db.session.rollback()
        return Outcome(instance_id, case_id, False, None, reasons=(str(err),))
    except Exception:
        db.session.rollback()
        raise


def _skipped(instance: ProcessInstance, to_bundle_id: int) -> str | None:
    """Why an instance read afresh is no longer one to move to `to_bundle_id`, in words; None when it is."""
    voided = db.session.scalar(select(Case.voided_at).where(Case.id == instance.case_id))
    if voided is not None:
        return "its contact was voided after the cases were listed"
    if instance.status not in OPEN:
        return f"its flow has {_finished(instance.status)} since the cases were listed"
    if instance.bundle_id == to_bundle_id:
        return "someone moved it to the live version after the cases were listed"
    live = db.session.scalar(select(LiveBundle.bundle_id).where(LiveBundle.flow == instance.flow))
    if live != to_bundle_id:
        return "a newer version went live after the cases were listed: look at the list again"
    return None


def _move(user: User, instance: ProcessInstance, to_row: ProcessBundle) -> InstanceMigration:
    old, new = bundles.parsed(instance.bundle), bundles.parsed(to_row)
    found = versions.migration_preview(instance.state, old, new)
    if not found.can_move:
        raise versions.MigrationRefused(list(found.reasons))
    state = versions.migrate(instance.state, old, new)
    moved = runtime.restore(state, new, caller=None)
    ready = runtime.ready_user_tasks(moved, new)
    try:
        state, depth = runtime.save(moved, current_app.config["MAX_TREE_DEPTH"])
    except runtime.TreeTooDeep as err:
        raise NotSaved(str(err)) from None
    migration = InstanceMigration(
        instance_id=instance.id,
        case_id=instance.case_id,
        flow=instance.flow,
        from_bundle_id=instance.bundle_id,
        to_bundle_id=to_row.id,
        state_before=instance.state,
        version_before=instance.version,
        version_after=instance.version,  # set once the instance's own version has moved, below
        changes=list(found.changes),
        migrated_by_id=user.id,
    )
    instance.state = state
    instance.bundle = to_row
    instance.tree_depth = depth
    instance.next_wake_at = runtime.next_wake(moved)
    instance.updated_at = utcnow()
    db.session.flush()  # the versioned row first, so a case changed meanwhile is found before any other write
    migration.version_after = instance.version
    db.session.add(migration)
    db.session.flush()
    _mirror(instance, ready)
    audit.record(
        "INSTANCE_MIGRATED",
        user.id,
        case_id=instance.case_id,
        instance_id=instance.id,
        migration_id=migration.id,
        bundle_id=to_row.id,
    )
    return migration


def _mirror(instance: ProcessInstance, ready: list[runtime.ReadyTask]) -> None:
    """The task table as the moved instance stands. The tasks stay the same tasks (the same ids, claims and
    clocks), but a new version may rename one, give it another form or put it in another lane: those are
    brought up to date, and a claim is let go when its holder does not have the task's new role."""
    workflow.sync_mirror(instance, ready)
    rows = {t.id: t for t in db.session.scalars(select(Task).where(Task.instance_id == instance.id))}
    for task in ready:
        row = rows.get(task.id)
        if row is None:
            continue
        row.name, row.form_id, row.subject = task.name, task.form_id, task.subject[:200]
        lane = task.lane or ""
        if row.lane != lane:
            row.lane = lane
            holder = db.session.get(User, row.assignee_id) if row.assignee_id else None
            if holder is not None and lane not in holder.roles:
                holder = None
                row.assignee_id, row.claimed_at = None, None
            # The same rule as for a task that appears: with its holder's team while they keep it.
            row.team = workflow.task_team(lane, holder)
        clock = db.session.scalar(select(TaskClock).where(TaskClock.task_id == task.id))
        if clock is not None:
            clock.name, clock.lane = task.name, lane


# --- Undoing a move -----------------------------------------------------------------------------------------


def undo(user: User, migration_id: int) -> InstanceMigration:
    """Put the instance back as it was before the move, on its old version, in one transaction. Refused, in plain
    words, once the case has moved on since (a step completed, a timer fired, another move)."""
    migration = db.session.get(InstanceMigration, migration_id)
    if migration is None:
        raise NotFound(migration_id)
    if migration.reverted_at is not None:
        raise NotSaved("This move has been undone already")
    instance = db.session.get(ProcessInstance, migration.instance_id)
    assert instance is not None
    if instance.version != migration.version_after or instance.bundle_id != migration.to_bundle_id:
        raise NotSaved(
            "The case has moved on since it was moved to the new version (someone completed a step, a timer "
            "fired, or it was moved again), so the move cannot be undone: undoing it would lose that work"
        )
    old_row = _bundle(migration.from_bundle_id)
    old = bundles.parsed(old_row)
    restored = runtime.restore(migration.state_before, old, caller=None)
    ready = runtime.ready_user_tasks(restored, old)
    instance.state = migration.state_before  # as it was, byte for byte
    instance.bundle = old_row
    instance.tree_depth = runtime.tree_depth(restored)
    instance.next_wake_at = runtime.next_wake(restored)
    instance.updated_at = utcnow()
    try:
        db.session.flush()
        migration.reverted_at = utcnow()
        migration.reverted_by_id = user.id
        _mirror(instance, ready)
        audit.record(
            "INSTANCE_MIGRATION_REVERTED",
            user.id,
            case_id=instance.case_id,
            instance_id=instance.id,
            migration_id=migration.id,
        )
        db.session.commit()
    except StaleDataError:
        db.session.rollback()
        raise NotSaved("Someone acted on the case while the move was being undone; nothing was changed") from None
    except Exception:
        db.session.rollback()
        raise
    return migration


def migration_flow(migration_id: int) -> str:
    """The flow a move belongs to (for the page to return to); NotFound for a move that does not exist."""
    migration = db.session.get(InstanceMigration, migration_id)
    if migration is None:
        raise NotFound(migration_id)
    return migration.flow
