"""indexes for years of cases: contacts by when they were made, failed instances, running clocks, the
figures' MAT and domestic-abuse decisions by when they were decided

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None

RUNNING = "met_at IS NULL AND stopped_at IS NULL AND missed_at IS NULL"


def upgrade():
    op.create_index("ix_case_record_created_at", "case_record", ["created_at"])
    op.create_index("ix_process_instance_status", "process_instance", ["status"])
    op.create_index("ix_mat_decision_decided_at", "mat_decision", ["decided_at"])
    op.create_index("ix_da_triage_decision_decided_at", "da_triage_decision", ["decided_at"])
    # Only the clocks still running: the worker's look for breaches never walks years of finished ones.
    op.create_index(
        "ix_task_clock_running_due_at",
        "task_clock",
        ["due_at"],
        postgresql_where=sa.text(RUNNING),
        sqlite_where=sa.text(RUNNING),
    )


def downgrade():
    op.drop_index("ix_task_clock_running_due_at", table_name="task_clock")
    op.drop_index("ix_da_triage_decision_decided_at", table_name="da_triage_decision")
    op.drop_index("ix_mat_decision_decided_at", table_name="mat_decision")
    op.drop_index("ix_process_instance_status", table_name="process_instance")
    op.drop_index("ix_case_record_created_at", table_name="case_record")
