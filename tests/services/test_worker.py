"""The worker wakes an instance when its timer is due, on a fake clock that reaches the library's own."""

from datetime import UTC, datetime, timedelta

import time_machine
from sqlalchemy import select
from support import start_test_case

from app.extensions import db
from app.models import ProcessInstance, Task
from app.services import scenarios, worker

START = datetime(2026, 3, 27, 9, 0, tzinfo=UTC)  # the Friday before the clocks go forward


def test_a_timer_fires_once_when_due_and_not_before(fresh) -> None:
    with time_machine.travel(START, tick=False):
        case, instance = start_test_case("wait_a_day")
        assert instance.next_wake_at == START + timedelta(days=1)
        assert db.session.scalar(select(Task).where(Task.case_id == case.id)) is None

    with time_machine.travel(START + timedelta(hours=23, minutes=59), tick=False):
        assert worker.wake_due() == 0
        assert db.session.scalar(select(Task).where(Task.case_id == case.id)) is None

    with time_machine.travel(START + timedelta(days=1, minutes=1), tick=False):
        assert worker.wake_due() == 1
        assert worker.wake_due() == 0  # fired once only
    db.session.expire_all()
    tasks = db.session.scalars(select(Task).where(Task.case_id == case.id)).all()
    assert [t.bpmn_id for t in tasks] == ["chase"]
    assert db.session.get(ProcessInstance, instance.id).next_wake_at is None
    assert scenarios.mirror_mismatch(case.id) is None


def test_the_worker_command_makes_one_pass(fresh) -> None:
    with time_machine.travel(START, tick=False):
        start_test_case("wait_a_day")
    with time_machine.travel(START + timedelta(days=2), tick=False):
        result = fresh.test_cli_runner().invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "woke 1 instance(s)" in result.output
