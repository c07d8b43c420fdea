"""Hostile diagrams are refused with a plain message and harm nothing (issue 7, DESIGN.md rule 6).

`specs.read_upload` is what an uploaded .bpmn file goes through before anything else reads it: each hostile
file here is refused there, naming the file, before the step that it attacks (the size before any reading,
the encoding before any parser, a document type before parsing). Script injection is refused by
`bundles.check`, naming the element that holds the code, in every place a diagram can hold code; the code
never runs. Each refusal is timed (shown with `pytest -rA` as a user property), never asserted on time.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import pytest
from lxml import etree

from app.engine import specs
from app.engine.specs import MAX_DIAGRAM_BYTES, BundleRefused, Problem
from app.services import bundles

INVALID = Path(__file__).parent / "diagrams" / "invalid"
FORMS = {path.stem: json.loads(path.read_text(encoding="utf-8")) for path in INVALID.glob("*.json")}
SOUND = (INVALID / "sound.bpmn").read_bytes()
DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'
CANARY = "compass-hostile-canary-5d1c"
CHOOSE_NAME = b'name="Choose the route"'


@pytest.fixture
def timed(record_property: Callable[[str, Any], None]) -> Iterator[None]:
    started = time.perf_counter()
    yield
    record_property("seconds", round(time.perf_counter() - started, 4))


@pytest.fixture
def secret(tmp_path: Path) -> Path:
    path = tmp_path / "secret.txt"
    path.write_text(CANARY)
    return path


def refused_upload(raw: bytes, filename: str = "upload.bpmn") -> Problem:
    with pytest.raises(BundleRefused) as refused:
        specs.read_upload(raw, filename)
    (problem,) = refused.value.problems
    assert CANARY not in problem.message
    return problem


def with_doctype(doctype: str, body: bytes = SOUND) -> bytes:
    assert body.startswith(DECLARATION)
    return DECLARATION + b"\n" + doctype.encode() + body[len(DECLARATION) :]


def padded(total: int) -> bytes:
    """The sound diagram with a comment that brings it to exactly `total` bytes."""
    shell = SOUND.replace(b"</bpmn:definitions>", b"<!---->\n</bpmn:definitions>")
    return shell.replace(b"<!---->", b"<!--" + b"x" * (total - len(shell)) + b"-->")


# --- A file that is sound is read, and given back as text ------------------------------------------


def test_a_sound_file_is_read_as_its_text(timed: None) -> None:
    text = specs.read_upload(SOUND, "sound.bpmn")
    assert text == SOUND.decode("utf-8")
    # As a text editor on Windows saves it, with a byte order mark: read the same.
    assert specs.read_upload(b"\xef\xbb\xbf" + SOUND, "sound.bpmn") == text


# --- Size: refused by its length, before anything reads it ------------------------------------------


def test_a_20_mb_file_is_refused_by_its_size_before_anything_reads_it(timed: None) -> None:
    # Everything a reader could trip on, from the first byte: not UTF-8, a document type, an entity bomb.
    bomb = '<!DOCTYPE x [<!ENTITY a "aaaaaaaaaa">]>'
    raw = b"\xff\xfe" + bomb.encode() + b"<" * (20 * 1024 * 1024)
    problem = refused_upload(raw, "huge.bpmn")
    assert problem == Problem("huge.bpmn", "the file is 20.0 MB; a diagram may be at most 2 MB")


def test_a_file_one_byte_over_the_limit_is_refused_and_one_at_it_is_read(timed: None) -> None:
    assert MAX_DIAGRAM_BYTES == 2 * 1024 * 1024
    assert "at most 2 MB" in refused_upload(padded(MAX_DIAGRAM_BYTES + 1)).message
    assert len(specs.read_upload(padded(MAX_DIAGRAM_BYTES), "big.bpmn").encode()) == MAX_DIAGRAM_BYTES


# --- Encoding ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        (SOUND.replace(b'name="Choose the route"', 'name="Choisir la f\u00eate"'.encode("latin-1")), "line 25"),
        (SOUND.decode().encode("utf-16"), "line 1"),
    ],
    ids=["latin-1", "utf-16"],
)
def test_a_file_that_is_not_utf8_is_refused_naming_the_line(timed: None, raw: bytes, words: str) -> None:
    problem = refused_upload(raw)
    assert problem.message.startswith("the file is not UTF-8 text") and words in problem.message
    assert "save it as UTF-8" in problem.message


def test_a_file_declaring_another_encoding_is_refused(timed: None) -> None:
    raw = SOUND.replace(b'encoding="UTF-8"', b'encoding="ISO-8859-1"')
    assert refused_upload(raw).message == "the file says it is written in ISO-8859-1: save it as UTF-8"


# --- Malformed XML ----------------------------------------------------------------------------------


def line_of(text: bytes) -> int:
    (line,) = [n for n, content in enumerate(SOUND.splitlines(), start=1) if text in content]
    return line


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            SOUND.replace(b"</bpmn:userTask>", b"</bpmn:usertask>", 1),
            f"line {line_of(b'</bpmn:userTask>')}, column 21: Opening and ending tag mismatch: userTask line "
            f"{line_of(b'<bpmn:userTask id=')} and usertask",
        ),
        (
            SOUND[: SOUND.rindex(b"<bpmndi:BPMNDiagram")],
            f"line {line_of(b'<bpmndi:BPMNDiagram')}, column 3: Premature end of data in tag definitions",
        ),
        (b"", "line 1, column 1: the file is empty"),
        (
            SOUND.replace(CHOOSE_NAME, b'name="&nbsp;"', 1),
            f"line {line_of(CHOOSE_NAME)}, column 44: it uses an entity (&nbsp;) that is not defined",
        ),
    ],
    ids=["mismatched-tag", "cut-short", "empty", "undefined-entity"],
)
def test_malformed_xml_is_refused_saying_where(timed: None, raw: bytes, message: str) -> None:
    problem = refused_upload(raw)
    assert problem.message.startswith("the file is not well-formed XML: ")
    assert message in problem.message


def test_nesting_too_deep_is_refused(timed: None) -> None:
    deep = b"<bpmn:documentation>" * 5000 + b"</bpmn:documentation>" * 5000
    raw = SOUND.replace(b"</bpmn:definitions>", deep + b"</bpmn:definitions>")
    assert "its elements are nested too deeply" in refused_upload(raw).message


# --- Document types: external entities and entity bombs -------------------------------------------

DOCTYPE_REFUSED = "the file declares a document type or entities, which are not allowed"


def test_an_external_entity_is_refused_and_never_read(timed: None, secret: Path) -> None:
    doctype = f'<!DOCTYPE d [<!ENTITY s SYSTEM "file://{secret}">]>'
    body = SOUND.replace(b'name="Choose the route"', b'name="&s;"', 1)
    assert refused_upload(with_doctype(doctype, body)).message == DOCTYPE_REFUSED


@pytest.mark.parametrize(
    "doctype",
    [
        # An external DTD, and a parameter entity fetching one, from the network.
        '<!DOCTYPE d SYSTEM "http://127.0.0.1:9/evil.dtd">',
        '<!DOCTYPE d [<!ENTITY % p SYSTEM "http://127.0.0.1:9/evil.dtd"> %p;]>',
    ],
    ids=["external-dtd", "parameter-entity"],
)
def test_a_document_type_from_the_network_is_refused(timed: None, doctype: str) -> None:
    assert refused_upload(with_doctype(doctype)).message == DOCTYPE_REFUSED


def test_billion_laughs_is_refused_before_parsing(timed: None) -> None:
    entities = '<!ENTITY l0 "lol">' + "".join(f'<!ENTITY l{n} "{f"&l{n - 1};" * 10}">' for n in range(1, 10))
    body = SOUND.replace(b'name="Choose the route"', b'name="&l9;"', 1)
    assert refused_upload(with_doctype(f"<!DOCTYPE lolz [{entities}]>", body)).message == DOCTYPE_REFUSED


def test_quadratic_blowup_is_refused_before_parsing(timed: None) -> None:
    # One 50 KB entity used 20,000 times: a 1 GB text from a 150 KB file.
    doctype = f'<!DOCTYPE q [<!ENTITY big "{"x" * 50_000}">]>'
    uses = b"<bpmn:documentation>" + b"&big;" * 20_000 + b"</bpmn:documentation>"
    body = SOUND.replace(b"</bpmn:process>", uses + b"</bpmn:process>")
    raw = with_doctype(doctype, body)
    assert len(raw) < MAX_DIAGRAM_BYTES
    assert refused_upload(raw).message == DOCTYPE_REFUSED


def test_an_xinclude_is_never_followed(timed: None, secret: Path) -> None:
    """XInclude needs no document type. The parser never follows one, so it stays an inert element among
    the task's extensions, which the engine does not read."""
    include = f'<xi:include xmlns:xi="http://www.w3.org/2001/XInclude" href="file://{secret}" parse="text"/>'
    raw = SOUND.replace(b"<spiffworkflow:properties>", include.encode() + b"<spiffworkflow:properties>", 1)
    text = specs.read_upload(raw, "sound.bpmn")
    parsed = bundles.check("sound", {"sound.bpmn": text}, FORMS)
    for tree in parsed.trees.values():
        assert CANARY not in etree.tostring(tree, encoding="unicode")
        (kept,) = tree.iter("{http://www.w3.org/2001/XInclude}include")
        assert kept.getparent().getparent().get("id") == "choose"


# --- Not BPMN ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (
            b'<?xml version="1.0" encoding="UTF-8"?>\n<svg xmlns="http://www.w3.org/2000/svg"/>',
            "the file is not a BPMN 2.0 diagram (no bpmn:definitions)",
        ),
        (
            b'<definitions xmlns="http://www.omg.org/spec/BPMN/20100524/MODEL" id="d"/>',
            "the file has no process in it (no bpmn:process), so nothing could run",
        ),
    ],
    ids=["not-bpmn", "no-process"],
)
def test_a_file_that_is_not_a_bpmn_diagram_is_refused(timed: None, raw: bytes, message: str) -> None:
    assert refused_upload(raw).message == message


def test_the_file_is_named_by_its_name_alone(timed: None) -> None:
    problem = refused_upload(b"", "../../etc/\u202eevil.bpmn")
    assert problem.element_id == "evil.bpmn"
    assert refused_upload(b"", "").element_id == "the file"


# --- Script injection, in every place a diagram holds code -------------------------------------------

# ENGINE-NOTES.md "Script sandbox": the six attacks, each with the words of its refusal. `{marker}` is a
# file the attack would create if it ran. Attack 6 is a generator's frame walk: a statement in a script,
# one expression elsewhere.
ATTACKS = {
    "import": ("__import__('os').system('touch {marker}')", "Names starting with an underscore are not allowed"),
    "subclass-walk": (
        "[c for c in ().__class__.__base__.__subclasses__() if c.__name__ == '_wrap_close'][0]"
        ".__init__.__globals__['system']('touch {marker}')",
        "Names starting with an underscore are not allowed",
    ),
    "private-module": ("random._os.system('touch {marker}')", "Names starting with an underscore are not allowed"),
    "open": ("open('{marker}', 'w').write('ran')", "'open' is not available in diagram code"),
    "format-walk": ("'{{0.__class__.__base__.__subclasses__}}'.format(())", "str.format()"),
    "frame-walk": (
        "[g for g in [(x for x in [1])]][0].gi_frame.f_back.f_back.f_globals['__builtins__']"
        "['__import__']('os').system('touch {marker}')",
        "'gi_frame' is not allowed in diagram code",
    ),
}
FRAME_WALK_SCRIPT = (
    "g = (x for x in [1])\n"
    "b = g.gi_frame.f_back.f_back.f_globals['__builtins__']\n"
    "b['__import__']('os').system('touch {marker}')"
)


def _in_text(old: str) -> Callable[[str], tuple[str, str]]:
    def place(code: str) -> tuple[str, str]:
        return old, old.split(">", 1)[0] + ">" + escape(code) + "<" + old.rsplit("<", 1)[1]

    return place


def _in_attribute(old: str) -> Callable[[str], tuple[str, str]]:
    def place(code: str) -> tuple[str, str]:
        return old, old.split('value="', 1)[0] + 'value="' + escape(code, {'"': "&quot;"}) + '"/>'

    return place


def _as_loop(code: str) -> tuple[str, str]:
    script = "<bpmn:script>chased = True</bpmn:script>"
    loop = f'<bpmn:standardLoopCharacteristics loopMaximum="3"><bpmn:loopCondition>{escape(code)}</bpmn:loopCondition>'
    return script, loop + "</bpmn:standardLoopCharacteristics>" + script


def _as_conditional_event(code: str) -> tuple[str, str]:
    """The wait for a day becomes a wait until a condition is true."""
    timer = '<bpmn:timerEventDefinition id="wait_a_day_timer">\n        <bpmn:timeDuration>"P1D"</bpmn:timeDuration>'
    condition = f"<bpmn:condition>{escape(code)}</bpmn:condition>"
    return (
        timer + "\n      </bpmn:timerEventDefinition>",
        f'<bpmn:conditionalEventDefinition id="wait_a_day_condition">{condition}</bpmn:conditionalEventDefinition>',
    )


# Where code lives: (element to mark, how the message names it, is it a script, where it goes).
PLACES: dict[str, tuple[str, str, bool, Callable[[str], tuple[str, str]]]] = {
    "condition": (
        "flow_early_help",
        "the expression",
        False,
        _in_text('<bpmn:conditionExpression>route == "early_help"</bpmn:conditionExpression>'),
    ),
    "script": ("note_early_help", "the script", True, _in_text('<bpmn:script>outcome = "early_help"</bpmn:script>')),
    "timeDate": ("choose_overdue", "the expression", False, _in_text("<bpmn:timeDate>working_days(3)</bpmn:timeDate>")),
    "timeDuration": ("wait_a_day", "the expression", False, _in_text('<bpmn:timeDuration>"P1D"</bpmn:timeDuration>')),
    "timeCycle": ("remind_daily", "the expression", False, _in_text('<bpmn:timeCycle>"R3/P1D"</bpmn:timeCycle>')),
    "parameter": (
        "hand_over_to_lado",
        "the expression for the parameter 'reason'",
        False,
        _in_attribute('<spiffworkflow:parameter id="reason" type="str" value="&quot;An allegation&quot;"/>'),
    ),
    "pre-script": (
        "choose",
        "the pre-script",
        True,
        _in_text("<spiffworkflow:preScript>asked = 0</spiffworkflow:preScript>"),
    ),
    "post-script": (
        "choose",
        "the post-script",
        True,
        _in_text("<spiffworkflow:postScript>asked = asked + 1</spiffworkflow:postScript>"),
    ),
    "task-due": (
        "choose",
        "the expression for taskDue",
        False,
        _in_attribute('<spiffworkflow:property name="taskDue" value="working_days(1)"/>'),
    ),
    "cardinality": (
        "check_twice",
        "the expression for the number of instances (loopCardinality)",
        False,
        _in_text("<bpmn:loopCardinality>2</bpmn:loopCardinality>"),
    ),
    "completion": (
        "check_twice",
        "the expression for when the task is complete (completionCondition)",
        False,
        _in_text("<bpmn:completionCondition>False</bpmn:completionCondition>"),
    ),
    "loop-condition": ("chase", "the expression for when the repeats stop (loopCondition)", False, _as_loop),
    "conditional-event": ("wait_a_day", "the expression", False, _as_conditional_event),
}


@pytest.mark.parametrize("attack", list(ATTACKS))
@pytest.mark.parametrize("place", list(PLACES))
def test_script_injection_is_refused_at_check_time_naming_the_element(
    timed: None, tmp_path: Path, place: str, attack: str
) -> None:
    marker = tmp_path / "the-attack-ran"
    element_id, named, is_script, put = PLACES[place]
    code, words = ATTACKS[attack]
    if attack == "frame-walk" and is_script:
        code = FRAME_WALK_SCRIPT
    old, new = put(code.format(marker=marker))
    sound = SOUND.decode()
    assert sound.count(old) == 1, old
    diagram = specs.read_upload(sound.replace(old, new).encode(), "sound.bpmn")

    with pytest.raises(BundleRefused) as refused:
        bundles.check("sound", {"sound.bpmn": diagram}, FORMS)
    at_place = [p for p in refused.value.problems if p.element_id == element_id and words in p.message]
    assert at_place, refused.value.problems
    assert at_place[0].message.startswith(named + " ")
    assert not marker.exists()
