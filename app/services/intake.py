"""Matching the children of a contact being recorded to the children already known (§4.7, DOMAIN.md
"A child already known"): so a second call about the same incident is added to the open contact instead of
becoming a new one, and an open case is seen before anything else is done."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from app.services import people


@dataclass
class KnownChild:
    candidate: people.Candidate
    history: people.PersonHistory


@dataclass
class ChildMatches:
    name: str  # as typed on the contact
    known: list[KnownChild] = field(default_factory=list)


def known_children(data: dict[str, Any], per_child: int = 5) -> list[ChildMatches]:
    """For each child named on the half-typed contact, the known children who may be them, best first."""
    found = []
    for child in data.get("children") or []:
        name = str((child or {}).get("name") or "").strip()
        if not name:
            continue
        matches = ChildMatches(name)
        for candidate in people.match_children(
            name, child.get("date_of_birth") or None, child.get("postcode") or None, limit=per_child
        ):
            history = people.person_history(candidate.person.id)
            if history is not None:
                matches.known.append(KnownChild(candidate, history))
        found.append(matches)
    return found
