"""The worker wakes an instance when its timer is due, on a fake clock that reaches the library's own."""

import threading
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from sqlalchemy import select
from support import start_test_case, store_test_bundle, user

from app.extensions import db
from app.models import Case, ProcessInstance, Task
from app.services import scenarios, worker, workflow

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


@pytest.mark.postgres_only
def test_two_workers_racing_over_the_same_due_timers_fire_each_once(pg_fresh) -> None:
    """Two workers on two connections take the same list of due instances at the same moment: SKIP LOCKED
    shares them out, and every timer fires exactly once."""
    count = 12
    with time_machine.travel(START, tick=False):
        bundle_row = store_test_bundle("wait_a_day")
        ids = []
        for n in range(count):
            case = Case(reference=f"T-race-{n}", source="phone", created_by_id=user("ssw").id)
            db.session.add(case)
            db.session.flush()
            ids.append(workflow.start_instance(case, bundle_row, user("ssw")).id)
        db.session.commit()
    versions = {i: db.session.get(ProcessInstance, i).version for i in ids}

    barrier = threading.Barrier(2, timeout=20)
    real = workflow.fire_timers
    local = threading.local()
    woken: list[int] = []

    def first_waits(instance: ProcessInstance) -> None:
        if not getattr(local, "waited", False):
            local.waited = True
            barrier.wait()  # both workers hold one claimed instance before either fires
        real(instance)

    def one_worker() -> None:
        with pg_fresh.app_context():
            try:
                woken.append(worker.wake_due())
            finally:
                db.session.remove()

    workflow.fire_timers = first_waits  # type: ignore[assignment]
    try:
        with time_machine.travel(START + timedelta(days=1, minutes=1), tick=False):
            threads = [threading.Thread(target=one_worker) for _ in range(2)]
            for t in threads:
                t.start()
            for t in threads:
                t.join(60)
    finally:
        workflow.fire_timers = real  # type: ignore[assignment]

    assert sorted(woken) != [0, count] and sum(woken) == count  # shared, and nothing fired twice
    db.session.expire_all()
    for i in ids:
        assert db.session.get(ProcessInstance, i).version == versions[i] + 1
        assert [t.bpmn_id for t in db.session.scalars(select(Task).where(Task.instance_id == i))] == ["chase"]


def test_the_worker_knows_how_long_until_the_next_timer(fresh) -> None:
    with time_machine.travel(START, tick=False):
        assert worker.seconds_to_next_wake() is None  # nothing waits: the worker sleeps its interval
        start_test_case("wait_a_day")
        assert worker.seconds_to_next_wake() == 24 * 3600
    with time_machine.travel(START + timedelta(days=1, minutes=5), tick=False):
        assert worker.seconds_to_next_wake() == 0  # due already
