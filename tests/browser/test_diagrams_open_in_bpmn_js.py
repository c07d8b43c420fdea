"""Every shipped diagram opens in bpmn-js, the viewer behind most BPMN modellers: no error, no warning, and a
drawn element for every flow node, sequence flow, lane and pool of the XML. A screenshot of each is saved to
test-results/browser/diagram-<flow>.png for a person to look at.

The page is made by the test itself (`set_content`), with bpmn-js and its CSS from node_modules: nothing is
fetched from the network.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest
from lxml import etree
from playwright.sync_api import Page

pytestmark = pytest.mark.browser

ROOT = Path(__file__).resolve().parents[2]
RESULTS = ROOT / "test-results" / "browser"
DIAGRAMS = sorted((ROOT / "processes").glob("*.bpmn"))
BPMN = "http://www.omg.org/spec/BPMN/20100524/MODEL"
DRAWN = {
    # flow nodes
    "task",
    "userTask",
    "serviceTask",
    "scriptTask",
    "manualTask",
    "businessRuleTask",
    "sendTask",
    "receiveTask",
    "callActivity",
    "subProcess",
    "adHocSubProcess",
    "transaction",
    "startEvent",
    "endEvent",
    "intermediateCatchEvent",
    "intermediateThrowEvent",
    "boundaryEvent",
    "exclusiveGateway",
    "parallelGateway",
    "inclusiveGateway",
    "eventBasedGateway",
    "complexGateway",
    # edges, and where the work sits
    "sequenceFlow",
    "lane",
    "participant",
}
VIEWER = "bpmn-js/dist/bpmn-navigated-viewer.production.min.js"
STYLES = (
    "bpmn-js/dist/assets/diagram-js.css",
    "bpmn-js/dist/assets/bpmn-js.css",
    "bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css",
)
PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>html, body {{ margin: 0; height: 100%; background: #fff; }} #canvas {{ width: 100%; height: 100%; }}</style>
</head><body><div id="canvas"></div></body></html>"""

IMPORT = """async (xml) => {
    window.viewer = new BpmnJS({ container: "#canvas" });
    const message = (w) => String((w && (w.message || w)) || "");
    try {
        const result = await window.viewer.importXML(xml);
        return { error: null, warnings: (result.warnings || []).map(message) };
    } catch (err) {
        return { error: message(err), warnings: (err.warnings || []).map(message) };
    }
}"""

DRAWN_IDS = """() => {
    const registry = window.viewer.get("elementRegistry");
    return registry.getAll().filter((e) => registry.getGraphics(e)).map((e) => e.id);
}"""

FIT = """() => {
    const canvas = window.viewer.get("canvas");
    canvas.resized();
    canvas.zoom("fit-viewport", "auto");
}"""


def elements_to_draw(xml: bytes) -> dict[str, str]:
    """id -> kind of every element of the XML that a viewer must draw."""
    found: dict[str, str] = {}
    for element in etree.fromstring(xml).iter(f"{{{BPMN}}}*"):
        kind = etree.QName(element).localname
        if kind in DRAWN and element.get("id"):
            found[element.get("id")] = kind
    return found


@pytest.mark.parametrize("diagram", DIAGRAMS, ids=[d.stem for d in DIAGRAMS])
def test_diagram_opens_in_bpmn_js_without_warnings(page: Page, npm: Callable[[str], Path], diagram: Path) -> None:
    page_errors: list[str] = []
    page.on("pageerror", lambda err: page_errors.append(str(err)))
    page.set_content(PAGE.format(title=diagram.name))
    for style in STYLES:
        page.add_style_tag(path=npm(style))
    page.add_script_tag(path=npm(VIEWER))

    xml = diagram.read_bytes()
    result = page.evaluate(IMPORT, xml.decode("utf-8"))
    assert result["error"] is None, f"bpmn-js could not open {diagram.name}: {result['error']}"

    # The picture first, so there is one to look at even when a check below fails. The page is sized to the
    # drawing, so the picture is at about its natural scale, then the drawing is fitted to it.
    box = page.evaluate('() => window.viewer.get("canvas").viewbox().inner')
    width = min(max(int(box["width"]) + 80, 800), 4000)
    height = min(max(int(box["height"]) + 80, 600), 4000)
    page.set_viewport_size({"width": width, "height": height})
    page.evaluate(FIT)
    RESULTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=RESULTS / f"diagram-{diagram.stem}.png")

    assert result["warnings"] == [], f"bpmn-js opened {diagram.name} with warnings:\n" + "\n".join(
        f"  - {w}" for w in result["warnings"]
    )
    expected = elements_to_draw(xml)
    assert "sequenceFlow" in expected.values(), f"{diagram.name} has no sequence flow: is it a diagram?"
    drawn = set(page.evaluate(DRAWN_IDS))
    missing = sorted(f"{kind} {element_id}" for element_id, kind in expected.items() if element_id not in drawn)
    assert not missing, f"{diagram.name}: bpmn-js drew nothing for {len(missing)} element(s): {', '.join(missing)}"
    assert page_errors == [], f"the page reported errors: {page_errors}"
