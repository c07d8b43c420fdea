"""A handler that raises does not lose the user's work: their completion commits, and the failed step is
kept in the instance, marked failed for a manager to see."""

from sqlalchemy import select
from support import start_test_case, user

import handlers
from app.extensions import db
from app.models import AuditEvent, CaseEvent, ProcessInstance, Task
from app.services import workflow


@handlers.handler("test_partner_unreachable")
def _unreachable(ctx: handlers.Context) -> handlers.Result:
    raise ConnectionError("the partner's system did not answer")


def test_a_failing_handler_keeps_the_completion_and_marks_the_step(fresh) -> None:
    case, instance = start_test_case("failing_step")
    task = db.session.scalar(select(Task).where(Task.case_id == case.id))
    workflow.complete_task(user("ssw"), task.id, {"finding": "The note the social worker wrote."})
    db.session.expire_all()
    saved = db.session.get(ProcessInstance, instance.id)
    assert saved.status == "failed"
    assert saved.failure == "notify_partner: ConnectionError: the partner's system did not answer"
    assert db.session.scalar(select(Task).where(Task.case_id == case.id)) is None
    completed = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "TASK_COMPLETED"))
    assert completed.task_id == task.id
    failed = db.session.scalar(select(AuditEvent).where(AuditEvent.name == "PROCESS_STEP_FAILED"))
    assert failed.data == {"case_id": case.id, "instance_id": instance.id, "bpmn_id": "notify_partner"}
    timeline = db.session.scalars(select(CaseEvent).where(CaseEvent.case_id == case.id)).all()
    assert ["What do your records show?", "The note the social worker wrote."] in timeline[-1].detail
