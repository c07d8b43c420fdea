"""A worker killed at any moment loses nothing: the real worker command runs as its own process, is killed
with SIGKILL part-way through firing timers and sending e-mails, and is started again. Afterwards every
timer has fired exactly once and every e-mail has reached the SMTP server (on loopback) at least once,
each under one stable Message-ID, a resend byte for byte the same message."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask
from sqlalchemy import func, select
from support import store_test_bundle, user
from test_delivery import Inbox, free_port, make_case, queue

from app.extensions import db
from app.models import AuditEvent, Case, OutboxItem, ProcessInstance
from app.models.types import utcnow
from app.services import workflow

ROOT = Path(__file__).resolve().parents[2]
TIMERS = 30
EMAILS = 40


class SlowInbox(Inbox):
    """Takes a moment over each message, as a real server does, so the worker can be caught mid-batch."""

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        await asyncio.sleep(0.03)
        return await super().handle_DATA(server, session, envelope)


def _start_worker(app: Flask, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"],
        "COMPASS_DEMO": "1",
        "SECRET_KEY": "killed-worker-test",
        "SMTP_HOST": "127.0.0.1",
        "SMTP_PORT": str(port),
    }
    command = [sys.executable, "-m", "flask", "--app", "app", "worker", "--interval", "0.2"]
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait_for(condition: Callable[[], bool], seconds: float = 60) -> None:
    """Poll (this is a real process on the real clock, not a timed assertion) until the condition holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.02)
    raise AssertionError("the worker made no progress")


def _fired() -> int:
    db.session.remove()
    done = select(func.count()).select_from(ProcessInstance).where(ProcessInstance.status == "completed")
    return int(db.session.scalar(done) or 0)


def _undelivered() -> int:
    db.session.remove()
    pending = select(func.count()).select_from(OutboxItem).where(OutboxItem.status != "delivered")
    return int(db.session.scalar(pending) or 0)


def test_a_worker_killed_mid_batch_loses_nothing_and_repeats_nothing(fresh: Flask) -> None:
    bundle = store_test_bundle("timer_at")
    due = (utcnow() - timedelta(minutes=1)).isoformat()
    for n in range(TIMERS):
        case = Case(reference=f"T-kill-{n}", source="phone", created_by_id=user("ssw").id)
        db.session.add(case)
        db.session.flush()
        workflow.start_instance(case, bundle, None, data={"due": due})
    db.session.commit()
    items = [queue(make_case(f"CT-9{n:05d}"), address=f"agency{n}@example.org") for n in range(EMAILS)]
    expected = {f"<{i.message_id}@compass.local>" for i in items}

    inbox = SlowInbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    kills = 0
    try:
        # Killed while firing timers, then twice while sending e-mails.
        for reached in (
            lambda: _fired() >= TIMERS // 3,
            lambda: len(inbox.messages) >= 8,
            lambda: len(inbox.messages) >= 25,
        ):
            worker = _start_worker(fresh, controller.port)
            try:
                _wait_for(reached)
            finally:
                worker.send_signal(signal.SIGKILL)
                worker.wait(10)
                kills += 1
        worker = _start_worker(fresh, controller.port)
        try:
            _wait_for(lambda: _fired() == TIMERS and _undelivered() == 0)
        finally:
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
    finally:
        controller.stop()

    assert kills == 3
    db.session.remove()
    # Every timer fired once: each instance finished exactly once.
    completions = db.session.execute(select(AuditEvent.data).where(AuditEvent.name == "PROCESS_COMPLETED")).scalars()
    finished = [d["instance_id"] for d in completions]
    assert len(finished) == TIMERS == len(set(finished))
    # Every e-mail arrived, at least once, under its own stable id; a resend is the same message.
    by_id: dict[str, list[bytes]] = {}
    for _rcpt, message in inbox.messages:
        by_id.setdefault(message["Message-ID"], []).append(message.as_bytes())
    assert set(by_id) == expected
    assert all(len(set(copies)) == 1 for copies in by_id.values())
    statuses = db.session.scalars(select(OutboxItem.status).where(OutboxItem.id.in_([i.id for i in items])))
    assert set(statuses) == {"delivered"}
