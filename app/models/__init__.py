"""SQLAlchemy models, one module per domain."""

from app.models.audit import AuditEvent
from app.models.cases import Case, CaseEvent, CasePerson, Consent, Handover, Person, Referral
from app.models.outbox import OutboxItem
from app.models.users import Team, User, UserRole
from app.models.workflow import LiveBundle, ProcessBundle, ProcessInstance, Task

__all__ = [
    "AuditEvent",
    "Case",
    "CaseEvent",
    "CasePerson",
    "Consent",
    "Handover",
    "LiveBundle",
    "OutboxItem",
    "Person",
    "ProcessBundle",
    "ProcessInstance",
    "Referral",
    "Task",
    "Team",
    "User",
    "UserRole",
]
