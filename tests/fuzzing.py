"""What the fuzz tests share: how many examples a run tries, the answers they make up for a form, and where in
the shipped flows each form's task waits. A plain module (not a conftest), so the tests import it by name.

`make test` runs each fuzz test on a small, fixed set of examples (the same ones every run, so a red build is
never luck); `make soak` sets COMPASS_SOAK=1 and runs many more, drawn afresh each time.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from sqlalchemy import func, select
from support import SCENARIO_START, duration

from app.extensions import db
from app.models import Case, CaseEvent, OutboxItem, Task
from app.schemaforms.model import Field, object_fields, walk
from app.services import bundles, scenarios

ROOT = Path(__file__).resolve().parents[1]
FORMS = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in sorted((ROOT / "forms").glob("*.json"))}

SOAK = os.environ.get("COMPASS_SOAK") == "1"
SOAK_TIMES = 25  # how many times more examples a soak tries than `make test`

_COMMON = {
    "deadline": None,  # a request that runs a flow can take a while; time is not what is tested
    "database": None,  # nothing written into the working tree
    "suppress_health_check": [HealthCheck.too_slow, HealthCheck.data_too_large, HealthCheck.filter_too_much],
}
# Shrinking a failure of these big examples can take minutes: `make test` reports the example as found, and a
# soak, which has the time, shrinks it to the smallest that still fails.
settings.register_profile("compass-bounded", derandomize=True, phases=[Phase.explicit, Phase.generate], **_COMMON)
settings.register_profile("compass-soak", derandomize=False, **_COMMON)


def examples(bounded: int) -> settings:
    """Settings for one fuzz run: `bounded` examples under `make test`, SOAK_TIMES as many under `make soak`."""
    profile = settings.get_profile("compass-soak" if SOAK else "compass-bounded")
    return settings(profile, max_examples=bounded * SOAK_TIMES if SOAK else bounded)


# --- Text and values nobody should send ---------------------------------------------------------------------

ODD_TEXT = [
    "",
    " ",
    "\t\n\r\n",
    "\x00",
    "a\x00b",
    "\u202eright to left\u202c",
    "e\u0301\u0301\u0301",
    "👩\u200d👧\u200d👦",
    "𝔘𝔫𝔦𝔠𝔬𝔡𝔢",
    "\ufeff\ufffe\uffff",
    "\u2028\u2029",
    "<script>alert(1)</script>",
    "{{ 7*7 }}",
    "'; DROP TABLE case_record; --",
    "%s%n%x",
    "-1",
    "1e309",
    "NaN",
    "0" * 400,
    "9" * 5000,
    "Zoë Ångström 李小龍 محمد",
]


def text(max_size: int = 40, surrogates: bool = False) -> st.SearchStrategy[str]:
    """Any text: all of Unicode (a browser never sends an unpaired surrogate; JSON can), odd hand-picked strings,
    and, more rarely, text far longer than any answer allows."""
    letters = st.characters() if surrogates else st.characters(exclude_categories=("Cs",))
    anything = st.text(letters, max_size=max_size)
    huge = st.integers(min_value=300, max_value=120_000).map(lambda n: "Long " * (n // 5))
    return st.one_of(anything, anything, st.sampled_from(ODD_TEXT), huge)


def junk(finite: bool = False, surrogates: bool = False) -> st.SearchStrategy[Any]:
    """Any JSON-like value: a wrong type for whatever question it lands on, nested as deep as hypothesis likes."""
    numbers = st.one_of(
        st.integers(),
        st.sampled_from([2**31, 2**63, -(2**63) - 1, 10**30, -(10**30)]),
        st.floats(allow_nan=not finite, allow_infinity=not finite),
    )
    scalars = st.one_of(st.none(), st.booleans(), numbers, text(surrogates=surrogates))
    return st.recursive(
        scalars,
        lambda inner: st.one_of(
            st.lists(inner, max_size=4), st.dictionaries(text(max_size=12, surrogates=surrogates), inner, max_size=4)
        ),
        max_leaves=10,
    )


JUNK = junk(finite=True)

# --- Answers shaped by a form ---------------------------------------------------------------------------------


def good_value(f: Field, sloppy: bool) -> st.SearchStrategy[Any]:
    """An answer the question could accept (text within its lengths, one of its options, a real date); inside a
    group or a list item, the answers are as sloppy as the form's."""
    schema = f.schema
    if f.kind in ("radios", "select", "boolean") and f.choices:
        return st.sampled_from([choice.value for choice in f.choices])
    if f.kind == "checkboxes" and f.choices:
        values = [choice.value for choice in f.choices]
        return st.lists(st.sampled_from(values), unique_by=repr, min_size=1, max_size=len(values))
    if f.kind == "date":
        return st.dates(min_value=date(1990, 1, 1), max_value=date(2030, 12, 31)).map(date.isoformat)
    if f.kind in ("integer", "number"):
        low = schema.get("minimum", schema.get("exclusiveMinimum", -5))
        high = schema.get("maximum", schema.get("exclusiveMaximum", 10**6))
        return st.integers(min_value=int(low), max_value=int(high))
    if f.kind == "object":
        return answers(f.fields, sloppy)
    if f.kind == "list":
        most = f.max_items if f.max_items is not None else max(f.min_items, 3)
        items = answers(f.fields, sloppy)
        return st.lists(items, min_size=f.min_items, max_size=max(f.min_items, min(most, 3)))
    longest = int(schema.get("maxLength", 300))
    if isinstance(schema.get("pattern"), str):
        return st.from_regex(schema["pattern"], fullmatch=True).filter(lambda s: len(s) <= longest)
    if schema.get("format") == "email":
        return st.emails().filter(lambda s: len(s) <= longest)
    shortest = max(int(schema.get("minLength", 1)), 1)
    letters = st.characters(exclude_categories=("Cs", "Cc", "Zs", "Zl", "Zp"))
    return st.text(letters, min_size=shortest, max_size=max(shortest, min(longest, shortest + 60)))


_LEFT_OUT = object()


def answers(fields: list[Field], sloppy: bool = True, extra_names: tuple[str, ...] = ()) -> st.SearchStrategy[dict]:
    """Answers to a form's questions as the JSON a system (or the parsed post of a browser) would give. Most are
    good; with `sloppy`, some are left out, some are of the wrong type, and keys no question asks are added."""
    shape: dict[str, st.SearchStrategy[Any]] = {}
    for f in walk(fields):
        good = st.just(_LEFT_OUT) if f.readonly else good_value(f, sloppy)
        # Four good answers to each one left out and each one of the wrong type.
        shape[f.name] = st.one_of(good, good, good, good, st.just(_LEFT_OUT), JUNK) if sloppy else good
    made = st.fixed_dictionaries(shape).map(lambda d: {k: v for k, v in d.items() if v is not _LEFT_OUT})
    if not sloppy:
        return made
    names = st.one_of(text(max_size=12), st.sampled_from(extra_names)) if extra_names else text(max_size=12)
    extra = st.one_of(st.just({}), st.just({}), st.just({}), st.dictionaries(names, JUNK, min_size=1, max_size=3))
    return st.builds(lambda data, more: {**more, **data}, made, extra)


def as_post(fields: list[Field], data: Any, prefix: str = "") -> list[tuple[str, str]]:
    """The pairs a browser would post for `data`; an answer of the wrong shape is posted as its text."""
    pairs: list[tuple[str, str]] = []
    if not isinstance(data, dict):
        return [(prefix.rstrip(".") or "answer", str(data))]
    for f in walk(fields):
        if f.readonly or f.name not in data:
            continue
        path, value = prefix + f.name, data[f.name]
        if f.kind == "object":
            pairs += as_post(f.fields, value, path + ".")
        elif f.kind == "list" and isinstance(value, list):
            for index, item in enumerate(value):
                pairs.append((f"{path}.{index}._item", "1"))
                pairs += as_post(f.fields, item, f"{path}.{index}.")
        elif f.kind == "date" and isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\d", value):
            year, month, day = value.split("-")
            pairs += [(f"{path}-day", day), (f"{path}-month", month), (f"{path}-year", year)]
        elif f.kind == "date":
            pairs += [(f"{path}-{part}", str(value)) for part in ("day", "month", "year")]
        elif f.kind == "checkboxes" and isinstance(value, list):
            pairs += [(path, f.key_for(item) or str(item)) for item in value]
        elif f.kind in ("radios", "select", "boolean", "checkboxes"):
            pairs.append((path, f.key_for(value) or str(value)))
        else:
            pairs.append((path, str(value)))
    return pairs


def names_of(fields: list[Field], prefix: str = "") -> list[str]:
    """Every input name the form draws, list items numbered 0."""
    found = []
    for f in walk(fields):
        path = prefix + f.name
        if f.kind == "object":
            found += names_of(f.fields, path + ".")
        elif f.kind == "list":
            found += [f"{path}.0._item", *names_of(f.fields, f"{path}.0.")]
        elif f.kind == "date":
            found += [f"{path}-{part}" for part in ("day", "month", "year")]
        else:
            found.append(path)
    return found


def lists_of(fields: list[Field], prefix: str = "") -> list[tuple[str, list[Field]]]:
    """Every "add another" list of the form, by its path with items numbered 0, with its item's questions."""
    found = []
    for f in walk(fields):
        path = prefix + f.name
        if f.kind == "object":
            found += lists_of(f.fields, path + ".")
        elif f.kind == "list":
            found += [(path, f.fields), *lists_of(f.fields, f"{path}.0.")]
    return found


def tampered_pairs(fields: list[Field]) -> st.SearchStrategy[list[tuple[str, str]]]:
    """Pairs no page of Compass would post: its own inputs given any text, list items numbered oddly (huge,
    negative, nested, in other scripts' digits), add and remove actions on anything, and names it never draws."""
    names = names_of(fields) or ["answer"]
    lists = lists_of(fields)
    odd_indexes = ["99999999999999999999", "9" * 5000, "-1", "0.0", "", "x", "00", "1e3", "²", "٣"]
    # "check" is the contact page's own action: look for the children already known.
    actions = ["check", *(f"{verb}:{path}" for path, _ in lists for verb in ("add", "remove"))]
    made: list[st.SearchStrategy[tuple[str, str]]] = [
        st.tuples(st.sampled_from(names), text()),
        st.tuples(text(max_size=20), text()),
        st.tuples(
            st.just("_action"),
            st.one_of(
                st.sampled_from(actions),
                st.builds("remove:{}.{}".format, st.sampled_from(names), st.sampled_from(odd_indexes)),
                text(max_size=30),
            ),
        ),
    ]
    if lists:
        questions = sorted({f.name for _, inner in lists for f in walk(inner)} | {"_item", "0.name"})
        made.append(
            st.builds(
                lambda found, index, question, value: (f"{found[0]}.{index}.{question}", value),
                st.sampled_from(lists),
                st.sampled_from(odd_indexes),
                st.sampled_from(questions),
                text(),
            )
        )
    return st.lists(st.one_of(made), min_size=1, max_size=8)


# --- Where each form waits -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Place:
    """A scenario that passes a task of the form, and the task: running the steps before it leaves it ready."""

    flow: str
    scenario: str
    task: str


# The start forms are pages of their own; every other form is a task's, reached through a shipped scenario.
START_PAGES = {
    "contact_intake": ("/contacts/new", "fpoc"),
    "da_notification": ("/domestic-abuse/new", "coordinator"),
    "information_request": ("/information-requests/new", "coordinator"),
}
TASK_PLACES = {
    "acknowledge_referral": Place("initial_contact", "s17_consent_given", "acknowledge_referral"),
    "acknowledgement_escalation": Place(
        "initial_contact", "unacknowledged_referral_escalates_after_three_working_days", "escalate_acknowledgement"
    ),
    "da_agency_check": Place("da_triage", "level_1_record_only", "social_care_check"),
    "da_family_contact": Place("da_triage", "level_3_early_offer_of_help_without_health_action", "contact_family"),
    "da_joint_decision": Place("da_triage", "level_1_record_only", "joint_decision"),
    "da_lead_professional_consultation": Place(
        "da_triage", "early_help_medium_risk_goes_to_the_lead_professional", "lead_professional_consultation"
    ),
    "da_lead_professional_informed": Place(
        "da_triage", "early_help_high_risk_is_referred_and_the_lead_professional_told", "lead_professional_informed"
    ),
    "da_open_case_review": Place("da_triage", "open_case_goes_to_the_allocated_worker", "open_case_review"),
    "da_safe_contact": Place("da_triage", "level_2_unsafe_address_contact_made_safely", "safe_contact"),
    "early_help_request": Place("initial_contact", "early_help_request_advice_only", "early_help_request"),
    "information_received": Place(
        "initial_contact", "more_information_is_asked_at_most_three_times", "request_information"
    ),
    "information_request_checks": Place(
        "information_request", "cafcass_court_order_disclosed_in_full", "routine_checks"
    ),
    "information_request_consent": Place("information_request", "consent_never_received_so_refused", "confirm_consent"),
    "information_request_decision": Place(
        "information_request", "cafcass_court_order_disclosed_in_full", "decide_request"
    ),
    "lado_initial_consideration": Place("lado", "unfounded_allegation", "initial_consideration"),
    "lado_meeting": Place("lado", "unfounded_allegation", "hold_meeting"),
    "lado_outcome": Place("lado", "unfounded_allegation", "record_outcome"),
    "marf_chase": Place("initial_contact", "urgent_phone_referral_waits_for_its_marf_and_is_chased", "chase_marf"),
    "marf_received": Place("initial_contact", "urgent_phone_referral_waits_for_its_marf_and_is_chased", "receive_marf"),
    "mat_decision": Place("mat", "mat_decides_no_action_and_the_contact_closes", "joint_decision"),
    "mat_final_decision": Place("mat", "further_checks_then_a_strategy_discussion", "final_decision"),
    "mat_further_checks": Place("mat", "further_checks_then_a_strategy_discussion", "gather_information"),
    "mat_health": Place("mat", "mat_decides_no_action_and_the_contact_closes", "health_check"),
    "mat_police": Place("mat", "mat_decides_no_action_and_the_contact_closes", "police_check"),
    "mat_social_care": Place("mat", "mat_decides_no_action_and_the_contact_closes", "social_care_check"),
    "notification": Place("initial_contact", "notification_of_private_fostering", "record_notification"),
    "open_case_response": Place("initial_contact", "open_case_goes_to_the_allocated_worker", "open_case_response"),
    "partner_information": Place("initial_contact", "s17_consent_given", "partner_information"),
    "pprc_assessment": Place("initial_contact", "person_posing_a_risk_goes_to_assessment", "pprc_assessment"),
    "referral_outcome": Place("initial_contact", "s17_consent_given", "referral_outcome"),
    "seek_consent": Place("initial_contact", "s17_consent_sought_and_given", "seek_consent"),
    "ssw_decision": Place("initial_contact", "below_threshold_advice", "ssw_decision"),
    "ssw_review": Place("initial_contact", "below_threshold_advice", "ssw_review"),
    "strategy_arrange": Place(
        "strategy_discussion", "neither_enquiry_nor_investigation_no_further_action", "arrange_discussion"
    ),
    "strategy_record": Place(
        "strategy_discussion", "neither_enquiry_nor_investigation_no_further_action", "record_meeting"
    ),
}

_reached = 0


def ready_task(form: str, clock: Any) -> tuple[str, str]:
    """A new ready task with `form`, and the role that does it: its scenario run on the fake clock up to the
    step that does the task. Each call makes a case of its own, so a task completed by one example of a test is
    replaced by another for the next."""
    global _reached
    _reached += 1
    place = TASK_PLACES[form]
    scenario = json.loads((bundles.PROCESSES_DIR / place.flow / "scenarios" / f"{place.scenario}.json").read_text())
    steps = scenario["steps"]
    at = next(n for n, step in enumerate(steps) if step.get("task") == place.task)
    # Only the way to the task matters here, not what the scenario checks on its way.
    scenario["steps"], scenario["expect"] = [step for step in steps[:at] if "check" not in step], {}
    # Working-day timers count from the scenario's own Tuesday morning, wherever earlier runs left the clock.
    clock.move_to(SCENARIO_START)
    if "police_reference" in scenario["start"]:
        # The police reference makes a notification a repeat of an earlier one: each run needs its own.
        scenario["start"]["police_reference"] += f"-{_reached}"
    result = scenarios.run(scenario, advance=lambda text: clock.shift(duration(text)))
    assert result.mismatches == [], (form, result.mismatches)
    query = select(Task).where(Task.case_id == result.case_id, Task.bpmn_id == place.task)
    if "subject" in steps[at]:
        query = query.where(Task.subject == steps[at]["subject"])
    task = db.session.scalars(query.order_by(Task.created_at)).first()
    assert task is not None and task.form_id == form, (form, place, task and task.form_id)
    return task.id, steps[at]["as"]


def flow_variables() -> tuple[str, ...]:
    """The names the shipped diagrams' conditions and scripts read: extra keys in a task's answers sent through
    the API land in the workflow's data, where they could stand in for these."""
    import keyword

    found: set[str] = set()
    for path in sorted(bundles.PROCESSES_DIR.glob("*.bpmn")):
        xml = path.read_text(encoding="utf-8")
        for code in re.findall(r"<bpmn:(?:conditionExpression|script)[^>]*>([^<]*)<", xml):
            found |= set(re.findall(r"\b[a-z_][a-z0-9_]*\b", code.replace("&quot;", '"')))
    return tuple(sorted(name for name in found if not keyword.iskeyword(name)))


def fields_of(form: str) -> list[Field]:
    return object_fields(FORMS[form])


def record_counts() -> dict[str, int]:
    """What a refused post must leave as it was."""
    return {
        model.__tablename__: db.session.scalar(select(func.count()).select_from(model)) or 0
        for model in (Case, Task, CaseEvent, OutboxItem)
    }
