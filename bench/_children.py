"""Contacts for the benches, each about a child of its own.

Were every case of a bench about the same child, each would carry all the cases before it as the child's
earlier contacts: on its task pages, and in its flow's data, which the engine copies from task to task. The
work measured would then grow with the run, and two cases made at different moments of it would not be
doing the same work.
"""

from __future__ import annotations

import copy
from datetime import date, timedelta
from typing import Any

FIRST_NAMES = ["Amy", "Ben", "Cara", "Dev", "Ella", "Finn", "Gita", "Hal", "Isla", "Jay", "Kim", "Leo", "Mia", "Noor"]
SURNAMES = ["Adams", "Begum", "Clarke", "Dunn", "Evans", "Fox", "Green", "Hughes", "Iqbal", "Jones", "Khan", "Lloyd"]


def about_child(start: dict[str, Any], n: int) -> dict[str, Any]:
    """A scenario's contact (`start`) about the n-th child, no other number giving the same one; a child
    still, born within the last twenty years. The parents keep their names: a scenario's later steps may
    name them (a parent's consent, say)."""
    surname = SURNAMES[n // len(FIRST_NAMES) % len(SURNAMES)]
    contact = copy.deepcopy(start)
    child = contact["children"][0]
    child["name"] = f"{FIRST_NAMES[n % len(FIRST_NAMES)]} {surname}"
    child["date_of_birth"] = (date(2008, 1, 1) + timedelta(days=n % 5000)).isoformat()
    return contact
