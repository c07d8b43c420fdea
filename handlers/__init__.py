"""Service-task handlers: plain functions registered by name and named by the diagrams.

A handler receives a small context and returns a result: data for the workflow, and any outgoing items
(letters, e-mails, notices). It never writes to the database and never sends anything: the service that
runs the step writes the items to the outbox in the same transaction as the step itself.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol


@dataclass(frozen=True)
class Outgoing:
    """One item to send. `fields` fill the template, whose text is frozen when the step commits."""

    channel: str  # letter, email, notice
    template: str
    recipient_role: str  # parent, referrer, partner
    recipient_name: str
    address: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Record:
    """A fact for the case's own records (a referral accepted, a consent given), written by the service in the
    same transaction as the step. `kind` names one of the writers in app/services/case_records.py."""

    kind: str
    fields: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Result:
    data: Any = None
    outgoing: list[Outgoing] = field(default_factory=list)
    records: list[Record] = field(default_factory=list)


class Queries(Protocol):
    """What a handler may read; the service supplies it."""

    def earlier_contacts(self, name: str, date_of_birth: str | None) -> list[dict[str, Any]]: ...

    def known_child(self, case_id: int, key: str) -> dict[str, Any]:
        """What is already known of a child in this case: earlier contacts, open involvement (an open case
        with its allocated worker, targeted early help), and the last referral."""
        ...

    def marf_outstanding(self, case_id: int) -> bool:
        """Whether the case still waits for the written MARF its phone referral promised."""
        ...

    def strategy_invitation_facts(self, case_id: int, child_keys: list[str]) -> dict[str, Any]:
        """What the case says about who to invite to a strategy discussion: each child's school, age and
        known involvement, the referrer's agency, and the agencies asked for partner information."""
        ...


@dataclass(frozen=True)
class Context:
    case_id: int
    case_reference: str
    data: Mapping[str, Any]  # the task's data, read-only by convention
    params: Mapping[str, Any]
    queries: Queries


Handler = Callable[[Context], Result]
_REGISTRY: dict[str, Handler] = {}


def handler(name: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        if name in _REGISTRY and _REGISTRY[name] is not fn:
            raise ValueError(f"two handlers are registered as {name!r}")
        _REGISTRY[name] = fn
        return fn

    return register


def get(name: str) -> Handler | None:
    load_all()
    return _REGISTRY.get(name)


def names() -> set[str]:
    load_all()
    return set(_REGISTRY)


def load_all() -> None:
    """Import every handler module so its functions register themselves."""
    from handlers import (  # noqa: F401
        consent,
        da_triage,
        fire_safety,
        handovers,
        information_requests,
        lado,
        letters,
        mat,
        records,
        referrals,
        strategy_discussion,
    )
