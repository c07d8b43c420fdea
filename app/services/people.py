"""Matching the people named in a contact to the people already known, and what is known of them (§4.7).

A decision is made in the context of known history, so a child must be found even when their name is spelt
differently on the phone, only their first name is known, or their date of birth is known only to the year.
Search proposes candidates with their reasons for a person to judge; only a strong match (the same name or
the same-sounding name, with the same date of birth) is linked without asking.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from sqlalchemy import and_, case, delete, func, or_, select
from sqlalchemy.sql.elements import ColumnElement

from app.extensions import db
from app.models import Case, CasePerson, Involvement, Person, PersonNamePart

# How many people the database hands over for close scoring: enough that a common surname still finds the
# right child, few enough that a search never walks the whole register.
CANDIDATES = 200
POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][0-9A-Z]? [0-9][A-Z]{2}$")


def name_key(name: str) -> str:
    """A name reduced for matching: no accents, case, punctuation or extra spaces."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    return " ".join(re.sub(r"[^a-z ]", " ", plain.lower()).split())


def parse_date(value: Any) -> date | None:
    if isinstance(value, date):
        return value
    if not value:
        return None
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        return None


# --- How a name sounds ---------------------------------------------------------------------------------------

# Letters that sound alike share a digit; vowels and h, w, y carry none.
_DIGITS = {
    **dict.fromkeys("bfpv", "1"),
    **dict.fromkeys("cgjkqsxz", "2"),
    **dict.fromkeys("dt", "3"),
    "l": "4",
    **dict.fromkeys("mn", "5"),
    "r": "6",
}
# Openings written one way and said another: Phoebe/Febe, Knight/Night, Wright/Right, Catherine/Katherine.
_OPENINGS = [("ph", "f"), ("kn", "n"), ("wr", "r"), ("gn", "n"), ("ps", "s"), ("wh", "w"), ("x", "s")]


def name_sound(part: str) -> str:
    """A four-character code for how one part of a name sounds: Smith and Smyth, Jon and John, Catherine and
    Katherine share a code. The first letter is kept (after fixing silent or soft openings) and the rest become
    digits for groups of similar consonants, so small spelling differences in the middle disappear."""
    word = name_key(part).replace(" ", "")
    if not word:
        return ""
    for written, said in _OPENINGS:
        if word.startswith(written):
            word = said + word[len(written) :]
            break
    # GH after the first letter is silent or an F, never a G: Hughes, Leigh, Vaughan.
    word = word[0] + word[1:].replace("gh", "")
    if word[0] == "c":
        # A hard C is a K (Callum, Kallum); a soft one an S (Cerys, Serys).
        word = ("s" if word[1:2] in ("e", "i", "y") else "k") + word[1:]
    code = word[0].upper()
    previous = _DIGITS.get(word[0], "")
    for letter in word[1:]:
        digit = _DIGITS.get(letter, "")
        if digit and digit != previous:
            code += digit
            if len(code) == 4:
                break
        # H and W do not separate two alike consonants; a vowel does (as in Soundex).
        if letter not in "hw":
            previous = digit
    return code.ljust(4, "0")


def name_parts(name: str) -> list[str]:
    return name_key(name).split()


def index_name(person: Person) -> None:
    """Keep the parts of a child's name, with their sounds, where search looks them up."""
    if person.id is not None:
        db.session.execute(delete(PersonNamePart).where(PersonNamePart.person_id == person.id))
    for n, part in enumerate(name_parts(person.name)):
        db.session.add(PersonNamePart(person=person, position=n, part=part[:80], sound=name_sound(part)))


def reindex_names() -> int:
    """Rebuild the name index of every child from their names; people recorded before search existed."""
    db.session.execute(delete(PersonNamePart))
    children = select(CasePerson.person_id).where(CasePerson.role == "child")
    involved = select(Involvement.person_id)
    count = 0
    known = or_(Person.id.in_(children), Person.id.in_(involved))
    for person in db.session.scalars(select(Person).where(known, Person.merged_into_id.is_(None))):
        index_name(person)
        count += 1
    db.session.commit()
    return count


# --- Postcodes and partial dates of birth ----------------------------------------------------------------------


def normalise_postcode(value: str | None) -> str | None:
    """A UK postcode in upper case with one space before the last three characters, or None when the value
    does not look like a postcode at all."""
    if not value:
        return None
    plain = re.sub(r"[^A-Za-z0-9]", "", value).upper()
    if not 5 <= len(plain) <= 7:
        return None
    formatted = f"{plain[:-3]} {plain[-3:]}"
    return formatted if POSTCODE.match(formatted) else None


@dataclass(frozen=True)
class PartialDate:
    """A date of birth known to the day, to the month, or only to the year."""

    year: int
    month: int | None = None
    day: int | None = None

    @property
    def full(self) -> date | None:
        return date(self.year, self.month, self.day) if self.month and self.day else None

    def bounds(self) -> tuple[date, date]:
        """The first and last day the date could be."""
        if self.full:
            return self.full, self.full
        if self.month:
            following = date(self.year + (self.month == 12), self.month % 12 + 1, 1)
            return date(self.year, self.month, 1), date.fromordinal(following.toordinal() - 1)
        return date(self.year, 1, 1), date(self.year, 12, 31)

    def __str__(self) -> str:
        if self.full:
            return self.full.isoformat()
        return f"{self.year:04d}-{self.month:02d}" if self.month else f"{self.year:04d}"


def partial_date(value: Any) -> PartialDate | None:
    """A date of birth from a date, "YYYY-MM-DD", "YYYY-MM" or "YYYY"; None when it is none of those."""
    if isinstance(value, PartialDate) or value is None:
        return value
    if isinstance(value, date):
        return PartialDate(value.year, value.month, value.day)
    text = str(value).strip()
    match = re.fullmatch(r"(\d{4})(?:-(\d{1,2})(?:-(\d{1,2}))?)?", text)
    if not match:
        return None
    year, month, day = (int(g) if g else None for g in match.groups())
    assert year is not None
    if year < 1900:  # no child now living was born earlier, and year 0 is no date at all
        return None
    try:
        if month is not None and not 1 <= month <= 12:
            return None
        if day is not None:
            date(year, month or 1, day)
    except ValueError:
        return None
    return PartialDate(year, month, day)


# --- Search ----------------------------------------------------------------------------------------------------

EXACT_NAME = "exact name"
SOUNDS_ALIKE = "sounds alike"
PARTIAL_NAME = "partial name"
SAME_DOB = "same date of birth"
SAME_MONTH = "same year and month of birth"
SAME_YEAR = "same year of birth"
SAME_POSTCODE = "same postcode"


@dataclass
class Candidate:
    person: Person
    score: int
    reasons: list[str] = field(default_factory=list)


def match_children(
    name: str, date_of_birth: Any = None, postcode: str | None = None, limit: int = 10
) -> list[Candidate]:
    """Children who may be the one named, best first, each with a score out of 100 and the reasons.

    `name` may be the full name, one part of it (a first name or surname only), or initials; `date_of_birth`
    a date or "YYYY-MM-DD", "YYYY-MM" or "YYYY"; `postcode` in any spacing or case. Someone found by name is
    offered; someone not found by name is offered only on both the date of birth and the postcode.
    """
    parts = name_parts(name or "")
    dob = partial_date(date_of_birth)
    code = normalise_postcode(postcode)
    ids = _without_restricted_only(_candidate_ids(parts, dob, code))
    if not ids:
        return []
    people = db.session.scalars(select(Person).where(Person.id.in_(ids)))
    known_parts: dict[int, list[str]] = {}
    for person_id, part in db.session.execute(
        select(PersonNamePart.person_id, PersonNamePart.part)
        .where(PersonNamePart.person_id.in_(ids))
        .order_by(PersonNamePart.person_id, PersonNamePart.position)
    ):
        known_parts.setdefault(person_id, []).append(part)
    scored = []
    for person in people:
        candidate = _score(person, known_parts.get(person.id) or name_parts(person.name), parts, dob, code)
        if candidate is not None:
            scored.append(candidate)
    scored.sort(key=lambda c: (-c.score, c.person.name_key, c.person.id))
    return scored[:limit]


def _candidate_ids(parts: list[str], dob: PartialDate | None, code: str | None) -> list[int]:
    """The people worth scoring, chosen by the database through its indexes and roughly ranked there."""
    ids: list[int] = []
    if parts:
        sounds = [name_sound(p) for p in parts]
        words = [p for p in parts if len(p) > 1]
        conditions: list[ColumnElement[bool]] = [PersonNamePart.part.in_(parts), PersonNamePart.sound.in_(sounds)]
        for p in parts:
            # A range, not LIKE, so an index serves it on every database: "alex" finds "alexander",
            # "j" finds every name beginning with J; and a name recorded only as an initial is found too.
            conditions.append(and_(PersonNamePart.part >= p, PersonNamePart.part < p + "{"))
            conditions.append(PersonNamePart.part == p[0])
        weight = case(
            (PersonNamePart.part.in_(words or [""]), 4),
            (PersonNamePart.sound.in_(sounds), 3),
            else_=1,
        )
        rank: ColumnElement[Any] = func.sum(weight)
        query = select(PersonNamePart.person_id).join(Person, Person.id == PersonNamePart.person_id)
        if dob is not None:
            low, high = dob.bounds()
            rank = rank + func.max(case((Person.date_of_birth.between(low, high), 4), else_=0))
        if code is not None:
            rank = rank + func.max(case((Person.postcode == code, 2), else_=0))
        query = query.where(or_(*conditions)).group_by(PersonNamePart.person_id).order_by(rank.desc()).limit(CANDIDATES)
        ids.extend(db.session.scalars(query))
    filters: list[ColumnElement[bool]] = []
    if dob is not None:
        low, high = dob.bounds()
        filters.append(Person.date_of_birth.between(low, high))
    if code is not None:
        filters.append(Person.postcode == code)
    # Without a name, what was given narrows the search; with one, a child spelt beyond recognition is still
    # offered when both the date of birth and the postcode agree.
    if filters and (not parts or len(filters) == 2):
        known = select(PersonNamePart.person_id)
        query = select(Person.id).where(*filters, Person.id.in_(known)).order_by(Person.id).limit(CANDIDATES)
        ids.extend(i for i in db.session.scalars(query) if i not in ids)
    return ids


def _score(
    person: Person, known: list[str], parts: list[str], dob: PartialDate | None, code: str | None
) -> Candidate | None:
    reasons: list[str] = []
    score = 0.0
    if parts:
        score, reasons = _score_name(known, parts)
    if dob is not None and person.date_of_birth is not None:
        theirs = person.date_of_birth
        if dob.full and dob.full == theirs:
            score += 30
            reasons.append(SAME_DOB)
        elif dob.month and (dob.year, dob.month) == (theirs.year, theirs.month):
            # A month given on its own is a near miss on the day, or all that the caller knew.
            score += 20 if dob.full is None else 12
            reasons.append(SAME_MONTH)
        elif dob.year == theirs.year:
            score += 10 if dob.month is None else 5
            reasons.append(SAME_YEAR)
    if code is not None and person.postcode == code:
        score += 15
        reasons.append(SAME_POSTCODE)
    if not reasons:
        return None
    return Candidate(person=person, score=min(100, round(score)), reasons=reasons)


def _score_name(known: list[str], parts: list[str]) -> tuple[float, list[str]]:
    """Up to 55 for the name: every part given matched exactly and nothing left over scores highest."""
    if known == parts:
        return 55, [EXACT_NAME]
    if sorted(known) == sorted(parts):
        return 50, [EXACT_NAME]  # the same name in another order: a surname given first, say
    unused = list(known)
    total = 0.0
    kinds: set[str] = set()
    for part in parts:
        best, best_kind, best_at = 0.0, "", -1
        for at, theirs in enumerate(unused):
            if theirs == part:
                value, kind = 1.0, "exact"
            elif len(part) > 1 and len(theirs) > 1 and name_sound(theirs) == name_sound(part):
                value, kind = 0.8, SOUNDS_ALIKE
            elif theirs.startswith(part) or part.startswith(theirs):
                value, kind = 0.5, PARTIAL_NAME  # an initial, or the start of a longer name
            else:
                continue
            if value > best:
                best, best_kind, best_at = value, kind, at
        if best_at >= 0:
            total += best
            kinds.add(best_kind)
            unused.pop(best_at)
    if total == 0:
        return 0, []
    if len(parts) != len(known) or len(unused) != len(known) - len(parts):
        kinds.add(PARTIAL_NAME)  # a part given matched nothing, or a part known was not given
    reasons = [r for r in (SOUNDS_ALIKE, PARTIAL_NAME) if r in kinds]
    return 50 * total / max(len(parts), len(known)), reasons


# --- Linking a contact's child to a known person ------------------------------------------------------------


def find_or_create_child(
    name: str, date_of_birth: str | None, *, postcode: str | None = None, address: str | None = None
) -> Person:
    """An existing person only on a strong match, or a new one.

    Strong means the same name and the same date of birth, or a name that sounds the same with the same date
    of birth and the same postcode. Anything weaker is left for a person to judge from the search.
    """
    key, dob, code = name_key(name), parse_date(date_of_birth), normalise_postcode(postcode)
    found = strong_match(name, dob, code)
    if found is not None:
        # Fill what was missing; an address already known is not overwritten by one typed on a call.
        if code and not found.postcode:
            found.postcode = code
        if address and address.strip() and not found.address:
            found.address = address.strip()
        return found
    person = Person(
        name=name.strip(), name_key=key, date_of_birth=dob, postcode=code, address=(address or "").strip() or None
    )
    db.session.add(person)
    index_name(person)
    return person


def strong_match(name: str, dob: date | None, code: str | None) -> Person | None:
    if dob is None:
        return None
    key = name_key(name)
    found = db.session.scalar(
        select(Person)
        .where(Person.name_key == key, Person.date_of_birth == dob, Person.merged_into_id.is_(None))
        .order_by(Person.id)
        .limit(1)
    )
    if found is not None or code is None:
        return found
    sounds = [name_sound(p) for p in key.split()]
    for person in db.session.scalars(
        select(Person)
        .where(Person.date_of_birth == dob, Person.postcode == code, Person.merged_into_id.is_(None))
        .order_by(Person.id)
    ):
        if [name_sound(p) for p in person.name_key.split()] == sounds:
            return person
    return None


def new_person(name: str) -> Person:
    person = Person(name=name.strip(), name_key=name_key(name))
    db.session.add(person)
    return person


def _without_restricted_only(ids: list[int]) -> list[int]:
    """Leave out people known only from restricted records: search never leads to one (restricted.py)."""
    if not ids:
        return ids
    restricted = _linked(ids, restricted=True)
    if not restricted:
        return ids
    elsewhere = _linked(restricted, restricted=False)
    elsewhere |= set(db.session.scalars(select(Involvement.person_id).where(Involvement.person_id.in_(restricted))))
    return [i for i in ids if i not in restricted or i in elsewhere]


def _linked(ids: Iterable[int], *, restricted: bool) -> set[int]:
    """Which of these people appear in a case that is (or is not) restricted."""
    return set(
        db.session.scalars(
            select(CasePerson.person_id)
            .join(Case, Case.id == CasePerson.case_id)
            .where(CasePerson.person_id.in_(list(ids)), Case.restricted.is_(restricted))
        )
    )


def earlier_contacts(name: str, date_of_birth: str | None) -> list[dict[str, Any]]:
    """Every contact about a child with this name (and date of birth, when known), oldest first. A
    restricted record is there, but says only that it exists: a decision about the child must not be made
    on a history with a gap nobody can see (restricted.py)."""
    query = (
        select(CasePerson, Case)
        .join(Person, CasePerson.person_id == Person.id)
        .join(Case, CasePerson.case_id == Case.id)
        .where(Person.name_key == name_key(name), CasePerson.role == "child")
        .order_by(Case.created_at)
    )
    dob = parse_date(date_of_birth)
    if dob is not None:
        query = query.where(Person.date_of_birth == dob)
    return [
        {
            "case_id": case.id,
            "case_reference": RESTRICTED_HISTORY if case.restricted else case.reference,
            "created_at": case.created_at.isoformat(),
            "outcome": None if case.restricted else cp.outcome,
            "handover": None if case.restricted else cp.handover,
        }
        for cp, case in db.session.execute(query)
    ]


RESTRICTED_HISTORY = "A restricted record: ask a team manager"


# --- A person's history -----------------------------------------------------------------------------------------


@dataclass
class ContactSummary:
    case_id: int
    case_reference: str
    received_at: Any
    status: str  # open, closed, voided
    outcome: str | None
    handover: str | None
    threshold: str | None


@dataclass
class PersonHistory:
    person: Person
    contacts: list[ContactSummary]  # every contact about them, newest first
    open_contacts: list[ContactSummary]
    open_involvement: list[Involvement]
    involvement: list[Involvement]  # open and closed, newest first


def person_history(person_id: int) -> PersonHistory | None:
    """Every contact about a child, the ones still open, and their involvement from the main record system."""
    from app.services import involvement

    person = db.session.get(Person, person_id)
    if person is None or not _without_restricted_only([person_id]):
        return None
    rows = db.session.execute(
        select(CasePerson, Case)
        .join(Case, CasePerson.case_id == Case.id)
        .where(CasePerson.person_id == person_id, CasePerson.role == "child", Case.restricted.is_(False))
        .order_by(Case.created_at.desc(), Case.id.desc())
    )
    contacts = [
        ContactSummary(
            case_id=c.id,
            case_reference=c.reference,
            received_at=c.created_at,
            status="voided" if c.voided_at is not None or c.status == "voided" else c.status,
            outcome=cp.outcome,
            handover=cp.handover,
            threshold=cp.threshold,
        )
        for cp, c in rows
    ]
    everything = involvement.all_involvement(person_id)
    return PersonHistory(
        person=person,
        contacts=contacts,
        open_contacts=[c for c in contacts if c.status == "open"],
        open_involvement=[i for i in everything if i.status == "open"],
        involvement=everything,
    )
