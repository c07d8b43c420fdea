"""/cases/<id>/diagram: a case on its diagrams, for team managers and service managers on a case they may see.
The drawing's data rides on the page (the BPMN XML and each step's mark); the same marks are listed in words
beside the case's timeline. Everyone else is refused without seeing the case; a restricted record is opened
with a reason first; the LADO's flow is shown only to those who may see it."""

from __future__ import annotations

import html
import json
import re

from sqlalchemy import select
from support import duration, user

from app.extensions import db
from app.models import CasePerson
from app.services import bundles, scenarios
from app.services.restricted import restrict


def scenario_case(flow: str, stem: str, clock) -> int:
    scenario = json.loads((bundles.PROCESSES_DIR / flow / "scenarios" / f"{stem}.json").read_text(encoding="utf-8"))
    result = scenarios.run(scenario, advance=lambda text: clock.shift(duration(text)))
    assert result.mismatches == [], result.mismatches
    return result.case_id


def child_names(case_id: int) -> list[str]:
    rows = db.session.scalars(select(CasePerson).where(CasePerson.case_id == case_id, CasePerson.role == "child"))
    return [row.person.name for row in rows]


def markers_on(page: str) -> list[dict[str, str]]:
    return [json.loads(html.unescape(m)) for m in re.findall(r"data-markers='([^']*)'", page)]


def test_a_manager_sees_each_flow_marked_with_its_steps_in_words_and_the_timeline(web, clock) -> None:
    case_id = scenario_case("initial_contact", "s17_no_consent_referrer_not_with_family_goes_to_mat", clock)
    page = web.login("service_manager").get(f"/cases/{case_id}/diagram")
    assert page.index("1. Initial contact") < page.index("2. Multi Agency Triage")
    contact, mat = markers_on(page)
    assert contact["record_contact"] == contact["to_mat"] == "completed"
    assert {k: v for k, v in mat.items() if v != "completed"} == {
        "police_check": "active",
        "health_check": "active",
        "social_care_check": "active",
    }
    # The XML rides in an attribute, escaped, and each drawing is drawn by our own script and the viewer.
    assert page.count("data-bpmn-xml=") == 2
    assert "&lt;bpmn:process id=&#34;mat&#34;" in page or "&lt;bpmn:process id=&quot;mat&quot;" in page
    assert '<script src="/assets/bpmn-navigated-viewer.js" defer></script>' in page
    assert '<script src="/assets/compass-diagram.js" defer></script>' in page
    assert " style=" not in page  # nothing the Content-Security-Policy refuses (the browser test checks the rest)
    # The steps in words, with the legend's words.
    assert re.search(r"Share what police records show</td>\s*<td[^>]*>\s*<strong[^>]*>\s*Waiting", page)
    assert re.search(r"Record the contact</td>\s*<td[^>]*>\s*<strong[^>]*>\s*Done", page)
    assert "the step is waiting past the time it was due" in page
    # The case's timeline, as the case page shows it.
    assert "Timeline" in page and "Decide threshold and outcome" in page


def test_the_case_page_links_to_the_diagrams_for_managers_only(web, clock) -> None:
    case_id = scenario_case("initial_contact", "s17_no_consent_referrer_not_with_family_goes_to_mat", clock)
    link = f'href="/cases/{case_id}/diagram"'
    assert link in web.login("team_manager").get(f"/cases/{case_id}")
    assert link not in web.another().login("ssw").get(f"/cases/{case_id}")


def test_everyone_else_is_refused_without_seeing_the_case(web, clock) -> None:
    case_id = scenario_case("initial_contact", "s17_no_consent_referrer_not_with_family_goes_to_mat", clock)
    names = child_names(case_id)
    assert names
    for role in ("ssw", "fpoc", "coordinator", "police", "health", "lado", "process_owner", "admin"):
        page = web.another().login(role).get(f"/cases/{case_id}/diagram", expect=403)
        assert not any(name in page for name in names), role
        assert "data-bpmn-xml" not in page
    web.another().login("service_manager").get("/cases/999999/diagram", expect=404)


def test_a_restricted_record_is_opened_with_a_reason_first(web, clock) -> None:
    case_id = scenario_case("initial_contact", "s17_no_consent_referrer_not_with_family_goes_to_mat", clock)
    restrict(user("service_manager"), case_id, "The family of a member of staff")
    db.session.commit()
    names = child_names(case_id)
    manager = web.login("team_manager")
    response = manager.client.get(f"/cases/{case_id}/diagram")
    assert response.status_code == 302
    assert response.headers["Location"] == f"/cases/{case_id}?next=/cases/{case_id}/diagram"
    reason_page = manager.get(response.headers["Location"], expect=403)
    assert "This is a restricted record" in reason_page
    assert f'name="next" value="/cases/{case_id}/diagram"' in reason_page
    assert not any(name in reason_page for name in names)
    opened = manager.post(
        f"/cases/{case_id}/open",
        {"reason": "Checking where the triage stands", "next": f"/cases/{case_id}/diagram"},
        expect=302,
    )
    assert opened.headers["Location"] == f"/cases/{case_id}/diagram"
    assert "2. Multi Agency Triage" in manager.get(f"/cases/{case_id}/diagram")
    # Someone the diagrams are not for is refused, not asked for a reason.
    page = web.another().login("ssw").get(f"/cases/{case_id}/diagram", expect=403)
    assert "This is a restricted record" not in page and "for team managers and service managers" in page


def test_the_lado_flow_and_its_timeline_entries_are_for_its_readers(web, clock) -> None:
    case_id = scenario_case("initial_contact", "allegation_against_a_teacher_goes_to_the_lado", clock)
    service = web.login("service_manager").get(f"/cases/{case_id}/diagram")
    team = web.another().login("team_manager").get(f"/cases/{case_id}/diagram")
    assert "2. LADO allegation" in service and "Consider the allegation" in service
    assert [len(markers_on(service)), len(markers_on(team))] == [2, 1]
    assert "LADO allegation" not in team and "Consider the allegation" not in team
    assert "allegation_received" not in team  # not even in the drawings' data
