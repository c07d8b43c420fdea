"""Two versions of a flow compared, without a database: the diagram element by element (by BPMN id) and the
forms question by question, in the words a process owner reads on the version history's diff page."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

from support import DIAGRAMS, diagram_files

from app.engine import specs
from app.engine.specs import ParsedBundle
from app.engine.versions import ElementDiff, FieldDiff, diff_bundles, diff_forms

FLOW = "versioned_note"


def bundle(edit: Callable[[str], str] = lambda xml: xml, flow: str = FLOW) -> ParsedBundle:
    files, forms = diagram_files(flow)
    return specs.load(flow, {name: edit(text) for name, text in files.items()}, forms)


def replaced(*pairs: tuple[str, str]) -> Callable[[str], str]:
    def edit(xml: str) -> str:
        for old, new in pairs:
            assert old in xml, old
            xml = xml.replace(old, new)
        return xml

    return edit


def changed(diff: Any, element_id: str) -> tuple[str, ...]:
    found = [el for el in diff.changed if el.element_id == element_id]
    assert found, f"{element_id} did not change: {diff.changed}"
    return found[0].changes


def test_a_version_compared_with_itself_has_no_difference() -> None:
    diff = diff_bundles(bundle(), bundle())
    assert diff.same
    assert (diff.added, diff.removed, diff.changed) == ((), (), ())


def test_a_renamed_task_is_changed_by_its_id_with_its_old_and_new_name() -> None:
    diff = diff_bundles(bundle(), bundle(replaced(('name="Record the note"', 'name="Write the note down"'))))
    assert diff.added == () and diff.removed == ()
    assert diff.changed == (
        ElementDiff(
            "record",
            "user task",
            "Write the note down",
            "Record a note, wait, confirm",
            ("name changed from “Record the note” to “Write the note down”",),
        ),
    )


def test_form_due_time_lane_handler_parameters_timer_and_condition_are_each_said_in_words() -> None:
    new = bundle(
        replaced(
            (
                'value="check_note.json"/>\n        <spiffworkflow:property name="taskDue"',
                'value="other_note.json"/>\n        <spiffworkflow:property name="taskDue"',
            ),
            ('value="hours_from_now(4)"', 'value="working_days(1)"'),
            ('id="tell_team" resultVariable="told"', 'id="tell_manager" resultVariable="told"'),
            ('value="&quot;hub&quot;"', 'value="&quot;managers&quot;"'),
            ('"P1D"', '"P2D"'),
            ('finding == "again"', 'finding == "redo"'),
            ("<bpmn:flowNodeRef>confirm</bpmn:flowNodeRef>", ""),
            (
                "</bpmn:laneSet>",
                '<bpmn:lane id="lane_tm" name="team_manager">'
                "<bpmn:flowNodeRef>confirm</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>",
            ),
        )
    )
    diff = diff_bundles(bundle(), new)
    assert changed(diff, "record") == (
        "form changed from “check_note” to “other_note”",
        "due time changed from “hours_from_now(4)” to “working_days(1)”",
    )
    assert changed(diff, "notify") == (
        "handler changed from “tell_team” to “tell_manager”",
        'handler parameter “team” changed from “"hub"” to “"managers"”',
    )
    assert changed(diff, "cool_off") == ('timer changed from “duration "P1D"” to “duration "P2D"”',)
    assert changed(diff, "f7") == ('condition changed from “finding == "again"” to “finding == "redo"”',)
    assert changed(diff, "confirm") == ("lane changed from “ssw” to “team_manager”",)
    assert {el.element_id for el in diff.changed} == {"record", "notify", "cool_off", "f7", "confirm"}


def test_a_step_put_between_two_others_is_added_and_its_neighbours_flows_change() -> None:
    step = (
        '<bpmn:userTask id="second_look" name="Take a second look">'
        "<bpmn:extensionElements><spiffworkflow:properties>"
        '<spiffworkflow:property name="formJsonSchemaFilename" value="check_note.json"/>'
        "</spiffworkflow:properties></bpmn:extensionElements>"
        "<bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f5b</bpmn:outgoing></bpmn:userTask>"
        '<bpmn:sequenceFlow id="f5b" sourceRef="second_look" targetRef="outcome"/>'
    )
    new = bundle(
        replaced(
            (
                '<bpmn:sequenceFlow id="f5" sourceRef="confirm" targetRef="outcome"/>',
                '<bpmn:sequenceFlow id="f5" sourceRef="confirm" targetRef="second_look"/>' + step,
            ),
            (
                "<bpmn:incoming>f5</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>",
                "<bpmn:incoming>f5b</bpmn:incoming><bpmn:outgoing>f6</bpmn:outgoing>",
            ),
            (
                "<bpmn:flowNodeRef>done</bpmn:flowNodeRef>",
                "<bpmn:flowNodeRef>done</bpmn:flowNodeRef><bpmn:flowNodeRef>second_look</bpmn:flowNodeRef>",
            ),
        )
    )
    diff = diff_bundles(bundle(), new)
    assert [(el.element_id, el.kind, el.name) for el in diff.added] == [
        ("second_look", "user task", "Take a second look"),
        ("f5b", "sequence flow", ""),
    ]
    assert diff.removed == ()
    assert changed(diff, "confirm") == (
        "now leads to “Take a second look” (second_look)",
        "no longer leads to “Confirmed?” (outcome)",
    )
    assert changed(diff, "outcome") == (
        "is now reached from “Take a second look” (second_look)",
        "is no longer reached from “Confirm the note” (confirm)",
    )
    assert changed(diff, "f5") == ("to changed from “Confirmed?” (outcome) to “Take a second look” (second_look)",)


def test_a_removed_step_is_removed_with_its_kind_and_name_and_going_back_adds_it_again() -> None:
    new = bundle(
        replaced(
            (
                '<bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="cool_off"/>',
                '<bpmn:sequenceFlow id="f3" sourceRef="notify" targetRef="confirm"/>',
            ),
            (
                "<bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>",
                "<bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>",
            ),
        )
    )
    # The timer and its outgoing flow are left out of the new version's file altogether.
    start = new.files["versioned_note.bpmn"].index('<bpmn:intermediateCatchEvent id="cool_off"')
    end = new.files["versioned_note.bpmn"].index("</bpmn:intermediateCatchEvent>") + len(
        "</bpmn:intermediateCatchEvent>"
    )
    text = new.files["versioned_note.bpmn"][:start] + new.files["versioned_note.bpmn"][end:]
    text = text.replace('<bpmn:sequenceFlow id="f4" sourceRef="cool_off" targetRef="confirm"/>', "")
    text = text.replace("<bpmn:flowNodeRef>cool_off</bpmn:flowNodeRef>", "")
    _files, forms = diagram_files(FLOW)
    without_timer = specs.load(FLOW, {"versioned_note.bpmn": text}, forms)
    forward = diff_bundles(bundle(), without_timer)
    assert [(el.element_id, el.kind, el.name) for el in forward.removed] == [
        ("cool_off", "intermediate catch event (timer)", "A day to cool off"),
        ("f4", "sequence flow", ""),
    ]
    assert forward.added == ()
    back = diff_bundles(without_timer, bundle())
    assert [el.element_id for el in back.added] == ["cool_off", "f4"]
    assert back.removed == ()


def test_a_task_made_another_kind_says_so() -> None:
    new = bundle(
        replaced(
            (
                '<bpmn:userTask id="confirm" name="Confirm the note">',
                '<bpmn:manualTask id="confirm" name="Confirm the note">',
            ),
            (
                "<bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>\n    </bpmn:userTask>",
                "<bpmn:incoming>f4</bpmn:incoming><bpmn:outgoing>f5</bpmn:outgoing>\n    </bpmn:manualTask>",
            ),
        )
    )
    diff = diff_bundles(bundle(), new)
    assert changed(diff, "confirm")[0] == "kind changed from “user task” to “manual task”"
    assert [el.kind for el in diff.changed if el.element_id == "confirm"] == ["manual task"]


def test_a_subprocess_s_elements_are_compared_too_and_name_their_process() -> None:
    new = bundle(replaced(('name="Consider the child"', 'name="Think about the child"')), flow="versioned_family")
    diff = diff_bundles(bundle(flow="versioned_family"), new)
    assert [(el.element_id, el.process, el.changes) for el in diff.changed] == [
        ("consider", "Consider one child", ("name changed from “Consider the child” to “Think about the child”",))
    ]


def test_the_shipped_diagrams_each_compare_equal_to_themselves() -> None:
    """Every element kind the shipped flows use is read without error."""
    import app.services.bundles as shipped

    for path in sorted(shipped.PROCESSES_DIR.glob("*.bpmn")):
        files, forms = shipped.read_shipped(path.stem)
        parsed = specs.load(path.stem, files, forms)
        assert diff_bundles(parsed, parsed).same, path.stem
        assert diff_forms(parsed.forms, parsed.forms) == []


# --- Forms -----------------------------------------------------------------------------------------


def note_form() -> dict[str, Any]:
    return json.loads((DIAGRAMS / "check_note.json").read_text())


def intake_form() -> dict[str, Any]:
    return {
        "title": "Record the contact",
        "type": "object",
        "required": ["how", "children"],
        "properties": {
            "how": {
                "title": "How did it arrive?",
                "x-widget": "radios",
                "oneOf": [{"const": "phone", "title": "Phone"}, {"const": "marf", "title": "MARF"}],
            },
            "concern": {"title": "The concern", "type": "string", "x-widget": "textarea"},
            "children": {
                "title": "The children",
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"title": "Full name", "type": "string"},
                        "school": {"title": "School", "type": "string"},
                    },
                },
            },
        },
    }


def test_forms_added_and_removed_list_their_questions() -> None:
    result = diff_forms({"check_note": note_form()}, {"intake": intake_form()})
    assert [(f.form_id, f.title, f.status) for f in result] == [
        ("check_note", "What the records show", "removed"),
        ("intake", "Record the contact", "added"),
    ]
    assert [(f.path, f.status) for f in result[1].fields] == [
        ("how", "added"),
        ("concern", "added"),
        ("children", "added"),
        ("children[].name", "added"),
        ("children[].school", "added"),
    ]
    assert [f.path for f in result[0].fields] == ["finding"]


def test_unchanged_forms_are_not_listed() -> None:
    assert diff_forms({"intake": intake_form()}, {"intake": intake_form()}) == []


def test_questions_are_compared_one_by_one_in_words() -> None:
    new = intake_form()
    props = new["properties"]
    props["how"]["title"] = "How did the contact arrive?"
    props["how"]["oneOf"] = [
        {"const": "phone", "title": "Phone call"},
        {"const": "email", "title": "E-mail"},
    ]
    props["concern"]["description"] = "What the referrer is worried about"
    props["concern"]["type"] = "integer"
    new["required"] = ["how", "children", "concern"]
    props["children"]["items"]["properties"]["name"]["maxLength"] = 200
    del props["children"]["items"]["properties"]["school"]
    props["children"]["items"]["properties"]["date_of_birth"] = {"title": "Date of birth", "type": "string"}
    props["household"] = {"title": "Who lives there?", "type": "string"}
    result = diff_forms({"intake": intake_form()}, {"intake": new})
    assert len(result) == 1 and result[0].status == "changed" and result[0].changes == ()
    assert result[0].fields == (
        FieldDiff(
            "how",
            "How did the contact arrive?",
            "changed",
            (
                "question changed from “How did it arrive?” to “How did the contact arrive?”",
                "choice added: “E-mail”",
                "choice removed: “MARF”",
                "choice “Phone” now reads “Phone call”",
            ),
        ),
        FieldDiff(
            "concern",
            "The concern",
            "changed",
            ("now required", "type changed from string to integer", "hint set to “What the referrer is worried about”"),
        ),
        FieldDiff("children[].name", "Full name", "changed", ("longest answer set to “200”",)),
        FieldDiff("children[].date_of_birth", "Date of birth", "added", ("optional", "type string")),
        FieldDiff("children[].school", "School", "removed"),
        FieldDiff("household", "Who lives there?", "added", ("optional", "type string")),
    )


def test_the_form_s_own_title_order_and_conditions_are_said_too() -> None:
    new = intake_form()
    new["title"] = "Record a contact"
    new["properties"] = {k: new["properties"][k] for k in ("concern", "how", "children")}
    new["allOf"] = [{"if": {"properties": {"how": {"const": "marf"}}}, "then": {"required": ["concern"]}}]
    result = diff_forms({"intake": intake_form()}, {"intake": new})
    assert result[0].changes == (
        "title changed from “Record the contact” to “Record a contact”",
        "the order of the questions changed: now concern, how, children",
        "questions asked only on some answers (conditions) changed",
    )
    assert result[0].fields == ()


def test_a_question_made_optional_and_a_widget_changed() -> None:
    old = intake_form()
    new = copy.deepcopy(old)
    new["required"] = ["children"]
    new["properties"]["how"]["x-widget"] = "select"
    result = diff_forms({"intake": old}, {"intake": new})
    assert result[0].fields == (
        FieldDiff("how", "How did it arrive?", "changed", ("now optional", "widget changed from “radios” to “select”")),
    )
