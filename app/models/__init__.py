"""SQLAlchemy models, one module per domain."""

# Each flow's own records, in a module of their own (imported so their tables are known to the metadata).
from app.models import domestic_abuse, information_requests, lado, mat, strategy  # noqa: F401
from app.models.api import ApiIdempotencyKey, ApiToken
from app.models.audit import AuditChain, AuditEvent
from app.models.cases import (
    Case,
    CaseAccessReason,
    CaseEvent,
    CasePerson,
    Consent,
    Handover,
    Person,
    PersonRelationship,
    Referral,
    RetentionReview,
    SharingRecord,
)
from app.models.drafts import Draft
from app.models.figures import FiguresDay
from app.models.involvement import Involvement, PersonNamePart
from app.models.outbox import OutboxItem
from app.models.process_versions import InstanceMigration, ProcessDraft
from app.models.users import LoginGuard, Team, User, UserRole
from app.models.workflow import LiveBundle, ProcessBundle, ProcessInstance, Task, TaskClock

__all__ = [
    "ApiIdempotencyKey",
    "ApiToken",
    "AuditChain",
    "AuditEvent",
    "Case",
    "CaseAccessReason",
    "CaseEvent",
    "CasePerson",
    "Consent",
    "Draft",
    "FiguresDay",
    "Handover",
    "InstanceMigration",
    "Involvement",
    "LiveBundle",
    "LoginGuard",
    "OutboxItem",
    "Person",
    "PersonNamePart",
    "PersonRelationship",
    "ProcessBundle",
    "ProcessDraft",
    "ProcessInstance",
    "Referral",
    "RetentionReview",
    "SharingRecord",
    "Task",
    "TaskClock",
    "Team",
    "User",
    "UserRole",
]
