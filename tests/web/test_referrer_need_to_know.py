"""Who made a contact stays with the hub and the allocated worker who must answer them: the Early Help hub,
working a request for early help, sees the concern and the children but not the referrer, the answers that
name them, or the letters to them."""

from __future__ import annotations

import json

from sqlalchemy import select
from support import user

from app.extensions import db
from app.models import OutboxItem, Task
from app.services import bundles, contacts, workflow

SCENARIO = json.loads(
    (bundles.PROCESSES_DIR / "initial_contact/scenarios/early_help_request_goes_to_the_hub.json").read_text()
)


def test_the_early_help_hub_does_not_see_the_referrer(web) -> None:
    case = contacts.record_contact(user("fpoc"), SCENARIO["start"])
    referrer = SCENARIO["start"]["referrer"]
    hub = web.login("early_help")
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    task_page = hub.get(f"/tasks/{task.id}")
    case_page = hub.get(f"/cases/{case.id}")
    for page in (task_page, case_page):
        assert "Amy Example" in page
        for detail in (referrer["name"], referrer["phone"], referrer["email"]):
            assert detail not in page
    step = SCENARIO["steps"][0]
    workflow.complete_task(user(step["as"]), task.id, step["data"])
    to_referrer = db.session.scalar(
        select(OutboxItem).where(OutboxItem.case_id == case.id, OutboxItem.recipient_role == "referrer")
    )
    assert to_referrer is not None
    # Their part done, the case is out of the hub's sight altogether, letters and all.
    hub.get(f"/cases/{case.id}/letters/{to_referrer.id}", expect=403)
    hub.get(f"/cases/{case.id}", expect=403)
    # The hub's own staff see who referred, as they must.
    assert referrer["name"] in web.another().login("ssw").get(f"/cases/{case.id}")


def test_start_data_of_the_wrong_shape_is_refused_before_anything_is_made(fresh) -> None:
    import pytest

    from app.models import Case
    from app.services.errors import FormInvalid

    for broken in ({"referrer": "Sam"}, {"children": ["Amy"]}, {"immediate_protection": "yes"}):
        with pytest.raises(FormInvalid):
            contacts.record_contact(user("fpoc"), {**SCENARIO["start"], **broken})
    assert db.session.scalar(select(Case)) is None
