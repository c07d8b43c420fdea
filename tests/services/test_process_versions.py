"""A flow's draft as a service: the report of a replay is kept only for the draft that was replayed."""

from __future__ import annotations

from typing import Any

import pytest
from support import user

from app.services import process_versions, users
from app.services import replay as replays
from app.services.process_versions import DraftChanged

FLOW = "information_request"


def test_a_draft_saved_while_it_was_being_replayed_keeps_no_report(fresh: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    owner = user("process_owner")
    other = users.create_user("owner.two", "A second process owner", "pw-second-owner", ["process_owner"], "management")
    draft = process_versions.start_draft(FLOW, owner)
    version = draft.version
    xml = draft.files[f"{FLOW}.bpmn"].replace('name="Check what the records hold"', 'name="Renamed meanwhile"')
    real = replays.replay

    def replayed_while_someone_saves(*args: Any, **kwargs: Any) -> dict[str, Any]:
        # The replay runs with no lock held, so another process owner's save can land while it runs.
        report = real(*args, **kwargs)
        process_versions.save_diagram(FLOW, xml, version, other)
        return report

    monkeypatch.setattr(replays, "replay", replayed_while_someone_saves)
    with pytest.raises(DraftChanged):
        process_versions.replay(FLOW, version, owner)
    kept = process_versions.draft_of(FLOW)
    assert kept is not None and kept.files[f"{FLOW}.bpmn"] == xml
    assert kept.replay_report is None and kept.replay_hash is None
