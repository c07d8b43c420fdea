"""Two process owners acting on one draft at the same moment, each on a connection of its own (PostgreSQL):
of two saves, one is kept and the other told; of two deploys, one version is made and the other told.
Nobody sees an error page."""

from __future__ import annotations

import re
from typing import Any

import pytest
from flask import Flask
from harness import make_app
from sqlalchemy import func, select
from support import posted_at_once, signed_in

from app.extensions import db
from app.models import LiveBundle, ProcessBundle
from app.services import process_versions, users
from app.services.process_versions import draft_of

FLOW = "information_request"
OWNERS = 2


@pytest.mark.postgres_only
def test_two_owners_saving_and_deploying_one_draft_at_once(pg_fresh: Flask) -> None:
    for n in range(OWNERS):
        users.create_user(f"owner.{n}", f"Process owner {n}", "pw-at-once", ["process_owner"], "management")
    db.session.commit()
    web_app = make_app(pg_fresh.config["SQLALCHEMY_DATABASE_URI"])
    first, _ = signed_in(web_app, "owner.0", "pw-at-once", "/processes")
    page = first.get("/processes").get_data(as_text=True)
    token = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert token
    assert first.post(f"/processes/{FLOW}/draft", data={"csrf_token": token[1]}).status_code == 302
    db.session.expire_all()
    draft = draft_of(FLOW)
    assert draft is not None
    xml = draft.files[f"{FLOW}.bpmn"]
    clients = [signed_in(web_app, f"owner.{n}", "pw-at-once", f"/processes/{FLOW}/edit") for n in range(OWNERS)]
    posts = [
        (
            client,
            f"/processes/{FLOW}/edit",
            {
                "csrf_token": tok,
                "version": str(draft.version),
                "xml": xml.replace('name="Check what the records hold"', f'name="Owner {n} name"'),
            },
        )
        for n, (client, tok) in enumerate(clients)
    ]
    statuses = posted_at_once(posts)
    assert sorted(statuses) == [200, 409], statuses
    db.session.expire_all()
    kept = draft_of(FLOW)
    assert kept is not None
    winner = statuses.index(200)
    assert f'name="Owner {winner} name"' in kept.files[f"{FLOW}.bpmn"]

    process_versions.replay(FLOW, kept.version, users_by_name("owner.0"))
    db.session.expire_all()
    version = str(draft_of(FLOW).version)
    clients = [signed_in(web_app, f"owner.{n}", "pw-at-once", f"/processes/{FLOW}/deploy") for n in range(OWNERS)]
    posts = [
        (client, f"/processes/{FLOW}/deploy", {"csrf_token": tok, "version": version, "note": f"Owner {n}"})
        for n, (client, tok) in enumerate(clients)
    ]
    statuses = posted_at_once(posts)
    assert sorted(statuses) == [302, 409], statuses
    db.session.expire_all()
    assert db.session.scalar(select(func.count()).select_from(ProcessBundle).where(ProcessBundle.flow == FLOW)) == 2
    assert db.session.get(LiveBundle, FLOW).bundle.number == 2
    assert draft_of(FLOW) is None


def users_by_name(username: str) -> Any:
    from app.models import User

    found = db.session.scalar(select(User).where(User.username == username))
    assert found is not None
    return found
