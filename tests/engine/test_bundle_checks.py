"""Diagrams are untrusted input (DESIGN.md rules 6 and 7).

Each check starts from the shipped initial-contact diagram and its forms, changes ONE thing, and asserts
that `bundles.check` refuses it with a problem naming the right element in plain words. The import tests
then show that importing is idempotent by hash, that a new version never changes which version is live or
what a running case runs on, and that a refused import leaves nothing behind.
"""

from __future__ import annotations

import copy
import json
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from lxml import etree
from sqlalchemy import func, select
from support import user

from app.engine.specs import BPMN, NS, SPIFF, BundleRefused, Problem
from app.extensions import db
from app.models import AuditEvent, LiveBundle, ProcessBundle, ProcessInstance, Task
from app.services import bundles, contacts, workflow

FLOW = "initial_contact"
FILE = f"{FLOW}.bpmn"
SCENARIO = bundles.PROCESSES_DIR / FLOW / "scenarios" / "below_threshold_advice.json"
XML_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>\n'
# The script of the "Record the outcome chosen" task (below_threshold).
BELOW_SCRIPT = (
    '<bpmn:script>decision = {"key": child["key"], "threshold": threshold, "rationale": rationale, "outcome": outcome}'
)


# --- Helpers ---------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def shipped() -> tuple[dict[str, str], dict[str, Any]]:
    return bundles.read_shipped(FLOW)


@pytest.fixture
def source(shipped: tuple[dict[str, str], dict[str, Any]]) -> str:
    return shipped[0][FILE]


@pytest.fixture
def forms(shipped: tuple[dict[str, str], dict[str, Any]]) -> dict[str, Any]:
    return copy.deepcopy(shipped[1])


def replace_once(text: str, old: str, new: str) -> str:
    """A string edit that must hit exactly one place, so a changed shipped diagram cannot hide a test."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times in the shipped diagram"
    return text.replace(old, new)


def edited(text: str, change: Callable[[Any], None]) -> str:
    """The diagram after an lxml edit of its tree."""
    root = etree.fromstring(text.encode())
    change(root)
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8").decode()


def element(root: Any, element_id: str) -> Any:
    found = root.xpath("//*[@id=$id]", id=element_id)
    assert len(found) == 1, element_id
    return found[0]


def refusal(diagram: str, forms: dict[str, Any]) -> list[Problem]:
    with pytest.raises(BundleRefused) as refused:
        bundles.check(FLOW, {FILE: diagram}, forms)
    problems = refused.value.problems
    assert problems, "a refusal must list its problems"
    for problem in problems:
        assert isinstance(problem, Problem) and problem.element_id and problem.message
    return problems


def only(problems: list[Problem]) -> Problem:
    assert len(problems) == 1, problems
    return problems[0]


def bpmn(tag: str, **attributes: str) -> Any:
    return etree.Element(f"{{{BPMN}}}{tag}", attributes)


def with_doctype(text: str, doctype: str) -> str:
    assert text.startswith(XML_DECLARATION)
    return XML_DECLARATION + doctype + "\n" + text[len(XML_DECLARATION) :]


# --- The shipped bundle, and one change at a time -------------------------------------------------


def test_the_shipped_bundle_passes(source: str, forms: dict[str, Any]) -> None:
    parsed = bundles.check(FLOW, {FILE: source}, forms)
    assert parsed.spec.name == FLOW
    flows = parsed.sequence_flows()
    assert {"record_contact", "ssw_decision", "seek_consent"} <= {f.source for f in flows}


def test_a_user_task_naming_a_form_that_does_not_exist(source: str, forms: dict[str, Any]) -> None:
    diagram = replace_once(source, 'value="seek_consent.json"', 'value="consent_letter.json"')
    problem = only(refusal(diagram, forms))
    assert problem.element_id == "seek_consent"
    assert "consent_letter" in problem.message and "does not exist" in problem.message


def test_a_user_task_with_no_form(source: str, forms: dict[str, Any]) -> None:
    def drop_form(root: Any) -> None:
        task = element(root, "seek_consent")
        (prop,) = task.xpath(".//spiffworkflow:property[@name='formJsonSchemaFilename']", namespaces=NS)
        prop.getparent().remove(prop)

    problem = only(refusal(edited(source, drop_form), forms))
    assert problem.element_id == "seek_consent"
    assert "names no form" in problem.message


def test_a_misspelt_extension_element_is_named(source: str, forms: dict[str, Any]) -> None:
    def misspell(root: Any) -> None:
        (properties,) = element(root, "record_contact").iter(f"{{{SPIFF}}}properties")
        properties.tag = f"{{{SPIFF}}}propertys"

    problems = refusal(edited(source, misspell), forms)
    spelling = [p for p in problems if "spiffworkflow:propertys" in p.message]
    assert [p.element_id for p in spelling] == ["record_contact"]
    assert "unknown extension element" in spelling[0].message
    # The misspelling hides the form, and that is said too, about the same task.
    assert {p.element_id for p in problems} == {"record_contact"}


def test_a_service_task_naming_an_unregistered_handler(source: str, forms: dict[str, Any]) -> None:
    diagram = replace_once(source, 'serviceTaskOperator id="send_letters"', 'serviceTaskOperator id="send_pigeons"')
    problem = only(refusal(diagram, forms))
    assert problem.element_id == "write_letters"
    assert "send_pigeons" in problem.message and "does not exist" in problem.message


def test_a_handler_named_like_a_diagram_element(source: str, forms: dict[str, Any]) -> None:
    diagram = replace_once(source, 'serviceTaskOperator id="send_letters"', 'serviceTaskOperator id="collect_outcomes"')
    problem = only(refusal(diagram, forms))
    assert problem.element_id == "write_letters"
    assert "collect_outcomes" in problem.message and "also the id of a diagram element" in problem.message


def test_a_lane_named_after_no_role(source: str, forms: dict[str, Any]) -> None:
    diagram = replace_once(
        source,
        '<bpmn:lane id="decide_child_lane_ssw" name="ssw">',
        '<bpmn:lane id="decide_child_lane_ssw" name="wizard">',
    )
    problems = refusal(diagram, forms)
    # The lane itself, or the user tasks that nobody could now do, each said with the wrong name.
    named = {p.element_id for p in problems}
    in_the_lane = {"decide_child_lane_ssw", "ssw_review", "ssw_decision", "referral_outcome"}
    assert named & in_the_lane
    assert named <= in_the_lane
    for problem in problems:
        assert "'wizard'" in problem.message and "not a role" in problem.message


def test_a_gateway_condition_that_does_not_compile(source: str, forms: dict[str, Any]) -> None:
    diagram = replace_once(source, 'request_type == "pprc"', "request_type ==")
    problem = only(refusal(diagram, forms))
    assert problem.element_id == "flow_route_pprc"
    assert "does not compile" in problem.message and "not valid Python" in problem.message


@pytest.mark.parametrize(
    "attack",
    [
        "__import__('os').system('touch {marker}')",
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        ".__init__.__globals__['system']('touch {marker}')",
    ],
    ids=["import", "subclass-walk"],
)
@pytest.mark.parametrize("where", ["condition", "script"])
def test_an_attack_in_diagram_code_is_refused_at_deploy(
    source: str, forms: dict[str, Any], tmp_path: Path, attack: str, where: str
) -> None:
    marker = tmp_path / "attack-ran"
    code = escape(attack.format(marker=marker))
    if where == "condition":
        diagram, culprit = replace_once(source, 'request_type == "pprc"', code), "flow_route_pprc"
    else:
        diagram, culprit = replace_once(source, BELOW_SCRIPT, f"<bpmn:script>result = {code}"), "below_threshold"
    problem = only(refusal(diagram, forms))
    assert problem.element_id == culprit
    assert "does not compile" in problem.message and "underscore are not allowed" in problem.message
    assert not marker.exists()


def test_a_script_that_blows_memory_is_found_by_the_trial_run(source: str, forms: dict[str, Any]) -> None:
    diagram = replace_once(source, BELOW_SCRIPT, "<bpmn:script>x = [[0]*90000 for i in range(90000)]")
    problem = only(refusal(diagram, forms))
    assert problem.element_id == "below_threshold"
    assert "trial run of its script" in problem.message
    assert "MB of memory" in problem.message or "seconds of processing time" in problem.message


def _loop_back(condition: str) -> Callable[[Any], None]:
    """After the letters, a gateway that can send the case back to be recorded again."""

    def change(root: Any) -> None:
        process = element(root, FLOW)
        element(root, "flow_write_letters_to_any_handover").set("targetRef", "ask_again")
        gateway = bpmn("exclusiveGateway", id="ask_again", name="Ask for more?", default="flow_again_done")
        for tag, ref in [
            ("incoming", "flow_write_letters_to_any_handover"),
            ("outgoing", "flow_ask_again"),
            ("outgoing", "flow_again_done"),
        ]:
            etree.SubElement(gateway, f"{{{BPMN}}}{tag}").text = ref
        back = bpmn("sequenceFlow", id="flow_ask_again", sourceRef="ask_again", targetRef="record_contact")
        etree.SubElement(back, f"{{{BPMN}}}conditionExpression").text = condition
        done = bpmn("sequenceFlow", id="flow_again_done", sourceRef="ask_again", targetRef="any_handover")
        last_flow = process.findall("bpmn:sequenceFlow", NS)[-1]
        last_flow.addnext(done)
        last_flow.addnext(back)
        last_flow.addnext(gateway)
        incoming = bpmn("incoming")
        incoming.text = "flow_ask_again"
        element(root, "record_contact").find("bpmn:incoming", NS).addnext(incoming)
        for ref in element(root, "any_handover").findall("bpmn:incoming", NS):
            ref.text = "flow_again_done"
        etree.SubElement(element(root, "initial_contact_lane_ssw"), f"{{{BPMN}}}flowNodeRef").text = "ask_again"

    return change


LOOP = {"record_contact", "find_history", "decide_each_child", "collect_outcomes", "write_letters", "ask_again"}


def test_an_unbounded_loop_is_refused(source: str, forms: dict[str, Any]) -> None:
    problem = only(refusal(edited(source, _loop_back("more_information_needed == True")), forms))
    assert "loop has no bound" in problem.message
    assert all(node in problem.message for node in LOOP)


def _count_rounds(root: Any) -> None:
    script = element(root, "collect_outcomes").find("bpmn:script", NS)
    script.text += "\nasked = asked + 1"


def test_a_loop_testing_a_counter_that_nothing_changes_is_refused(source: str, forms: dict[str, Any]) -> None:
    problem = only(refusal(edited(source, _loop_back("more_information_needed == True and asked < 5")), forms))
    assert "loop has no bound" in problem.message and "must change that counter" in problem.message


def test_the_same_loop_bounded_by_a_counter_passes(source: str, forms: dict[str, Any]) -> None:
    diagram = edited(edited(source, _loop_back("more_information_needed == True and asked < 5")), _count_rounds)
    parsed = bundles.check(FLOW, {FILE: diagram}, forms)
    assert ("ask_again", "record_contact") in {(f.source, f.target) for f in parsed.sequence_flows()}


def test_an_unreachable_element(source: str, forms: dict[str, Any]) -> None:
    def orphan(root: Any) -> None:
        element(root, "contact_closed").addprevious(bpmn("task", id="tidy_up", name="Tidy up"))

    problem = only(refusal(edited(source, orphan), forms))
    assert problem.element_id == "tidy_up"
    assert "no path leads to this element" in problem.message


def test_a_file_that_is_not_well_formed_xml(source: str, forms: dict[str, Any]) -> None:
    diagram = source[: source.rindex("</bpmn:definitions>")]
    problem = only(refusal(diagram, forms))
    assert problem.element_id == FILE
    assert "not well-formed XML" in problem.message


@pytest.mark.parametrize("where", ["attribute", "text"])
def test_an_external_entity_is_refused_and_never_read(
    source: str, forms: dict[str, Any], tmp_path: Path, where: str
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("compass-xxe-canary-9f3e")
    hostname = Path("/etc/hostname").read_text().strip()
    doctype = f'<!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/hostname"><!ENTITY s SYSTEM "file://{secret}">]>'
    if where == "attribute":
        body = replace_once(source, 'name="Record the contact"', 'name="&e;&s;"')
    else:
        body = replace_once(source, "<bpmn:documentation>The referrer,", "<bpmn:documentation>&e;&s; The referrer,")
    problem = only(refusal(with_doctype(body, doctype), forms))
    assert problem.element_id == FILE
    assert problem.message == "the file declares a document type or entities, which are not allowed"
    assert "compass-xxe-canary-9f3e" not in problem.message
    assert hostname not in problem.message


@pytest.mark.parametrize("where", ["attribute", "text"])
def test_billion_laughs_is_refused_before_parsing(source: str, forms: dict[str, Any], where: str) -> None:
    entities = '<!ENTITY lol0 "lol">' + "".join(f'<!ENTITY lol{n} "{f"&lol{n - 1};" * 10}">' for n in range(1, 10))
    doctype = f"<!DOCTYPE lolz [{entities}]>"
    if where == "attribute":
        body = replace_once(source, 'name="Record the contact"', 'name="&lol9;"')
    else:
        body = replace_once(source, "<bpmn:documentation>The referrer,", "<bpmn:documentation>&lol9; The referrer,")
    # Refused by the check that runs before any parser sees the text, so nothing is ever expanded.
    problem = only(refusal(with_doctype(body, doctype), forms))
    assert problem.element_id == FILE
    assert problem.message == "the file declares a document type or entities, which are not allowed"


def _padded(source: str, total_bytes: int) -> str:
    """The diagram with an XML comment that brings it to exactly `total_bytes` bytes."""
    shell = source.replace("</bpmn:definitions>", "<!---->\n</bpmn:definitions>")
    pad = total_bytes - len(shell.encode())
    assert pad > 0
    padded = shell.replace("<!---->", f"<!--{'x' * pad}-->")
    assert len(padded.encode()) == total_bytes
    return padded


def test_a_file_over_two_megabytes_is_refused(source: str, forms: dict[str, Any]) -> None:
    problem = only(refusal(_padded(source, 2 * 1024 * 1024 + 1), forms))
    assert problem.element_id == FILE
    assert "larger than 2 MB" in problem.message


def test_a_file_of_exactly_two_megabytes_is_not_refused_for_its_size(source: str, forms: dict[str, Any]) -> None:
    bundles.check(FLOW, {FILE: _padded(source, 2 * 1024 * 1024)}, forms)


def test_a_file_that_is_xml_but_not_bpmn(forms: dict[str, Any]) -> None:
    diagram = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<definitions xmlns="http://example.com/not-bpmn" id="d"><process id="initial_contact"/></definitions>'
    )
    problem = only(refusal(diagram, forms))
    assert problem.element_id == FILE
    assert "not a BPMN 2.0 diagram" in problem.message


def test_an_invalid_form_schema_is_named_as_its_form(source: str, forms: dict[str, Any]) -> None:
    del forms["ssw_decision"]["properties"]["threshold"]["title"]
    problem = only(refusal(source, forms))
    assert problem.element_id == "form ssw_decision"
    assert "'threshold'" in problem.message and "no title" in problem.message


# --- Importing: idempotent by hash; live is a setting; running cases stay on their bundle ---------


def _counts() -> dict[str, int]:
    return {
        "bundles": db.session.scalar(select(func.count()).select_from(ProcessBundle)) or 0,
        "live": db.session.scalar(select(func.count()).select_from(LiveBundle)) or 0,
        "audit": db.session.scalar(select(func.count()).select_from(AuditEvent)) or 0,
    }


def _live_id() -> int:
    live = db.session.get(LiveBundle, FLOW)
    assert live is not None
    return live.bundle_id


def _changed_dir(tmp_path: Path, change: Callable[[str], str]) -> Path:
    """A processes/ folder holding the shipped diagram after `change`."""
    folder = tmp_path / "processes"
    folder.mkdir(parents=True)
    text = (bundles.PROCESSES_DIR / FILE).read_text(encoding="utf-8")
    (folder / FILE).write_text(change(text), encoding="utf-8")
    return folder


def _version_two(text: str) -> str:
    return replace_once(text, 'name="Decide threshold and outcome"', 'name="Decide threshold and outcome (v2)"')


def test_importing_the_shipped_bundle_again_changes_nothing(fresh) -> None:
    before, live_before = _counts(), _live_id()
    reports = bundles.import_shipped()
    again = bundles.import_shipped()
    db.session.expire_all()
    shipped = sorted(path.stem for path in bundles.PROCESSES_DIR.glob("*.bpmn"))
    assert [(r.flow, r.created, r.live) for r in reports] == [(flow, False, True) for flow in shipped]
    assert [r.bundle_id for r in again if r.flow == FLOW] == [live_before]
    assert _counts() == before
    assert _live_id() == live_before


def test_a_changed_diagram_is_a_new_bundle_that_is_not_live(fresh, tmp_path: Path) -> None:
    live_before = _live_id()
    bundles_before = _counts()["bundles"]
    (report,) = bundles.import_shipped(_changed_dir(tmp_path, _version_two), bundles.FORMS_DIR)
    db.session.expire_all()
    assert report.created and not report.live
    assert report.bundle_id != live_before
    assert _counts()["bundles"] == bundles_before + 1
    assert _live_id() == live_before
    # Importing the same changed files again is idempotent too.
    (again,) = bundles.import_shipped(_changed_dir(tmp_path / "again", _version_two), bundles.FORMS_DIR)
    assert (again.bundle_id, again.created) == (report.bundle_id, False)


def test_a_case_stays_on_the_bundle_it_started_with(fresh, tmp_path: Path) -> None:
    scenario = json.loads(SCENARIO.read_text(encoding="utf-8"))
    old_id = _live_id()
    case = contacts.record_contact(user("fpoc"), scenario["start"])
    (instance,) = db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == case.id))
    assert instance.bundle_id == old_id

    (report,) = bundles.import_shipped(_changed_dir(tmp_path, _version_two), bundles.FORMS_DIR)
    bundles.make_live(report.bundle_id)
    db.session.expire_all()
    assert _live_id() == report.bundle_id != old_id

    # The running case's tasks are the old version's, and it completes on the old bundle.
    review, decision = scenario["steps"]
    _complete(case.id, review)
    task = db.session.scalar(select(Task).where(Task.case_id == case.id, Task.bpmn_id == "ssw_decision"))
    assert task is not None and task.name == "Decide threshold and outcome"
    _complete(case.id, decision)
    db.session.expire_all()
    instance = db.session.get(ProcessInstance, instance.id)
    assert instance.bundle_id == old_id
    assert instance.status == "completed"

    # A new case starts on the new live version.
    newer = contacts.record_contact(user("fpoc"), scenario["start"])
    (new_instance,) = db.session.scalars(select(ProcessInstance).where(ProcessInstance.case_id == newer.id))
    assert new_instance.bundle_id == report.bundle_id
    _complete(newer.id, review)
    new_task = db.session.scalar(select(Task).where(Task.case_id == newer.id))
    assert new_task is not None and new_task.name == "Decide threshold and outcome (v2)"


def _complete(case_id: int, step: dict[str, Any]) -> None:
    task = db.session.scalar(select(Task).where(Task.case_id == case_id, Task.bpmn_id == step["task"]))
    assert task is not None, step["task"]
    workflow.complete_task(user(step["as"]), task.id, step["data"])


def test_a_refused_import_leaves_nothing_half_imported(fresh, tmp_path: Path) -> None:
    folder = _changed_dir(tmp_path, _version_two)  # a good new version, imported first (sorted by name)
    broken = (bundles.PROCESSES_DIR / FILE).read_text(encoding="utf-8")
    broken = replace_once(broken, '<bpmn:process id="initial_contact"', '<bpmn:process id="zz_broken"')
    broken = replace_once(broken, 'processRef="initial_contact"', 'processRef="zz_broken"')
    broken = replace_once(broken, 'serviceTaskOperator id="send_letters"', 'serviceTaskOperator id="send_pigeons"')
    (folder / "zz_broken.bpmn").write_text(broken, encoding="utf-8")
    forms_dir = tmp_path / "forms"
    shutil.copytree(bundles.FORMS_DIR, forms_dir)
    before, live_before = _counts(), _live_id()

    with pytest.raises(BundleRefused) as refused:
        bundles.import_shipped(folder, forms_dir)
    assert [(p.element_id, "send_pigeons" in p.message) for p in refused.value.problems] == [("write_letters", True)]
    db.session.expire_all()
    assert _counts() == before
    assert _live_id() == live_before
    assert db.session.scalar(select(ProcessBundle).where(ProcessBundle.flow == "zz_broken")) is None
