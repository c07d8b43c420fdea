"""task clocks: every statutory clock a case has run, met, missed or stopped; the flow of each timeline entry

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "task_clock",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=80), nullable=False),
        sa.Column("bpmn_id", sa.String(length=120), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("lane", sa.String(length=40), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("met_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("stopped_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("missed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("task_id"),
    )
    with op.batch_alter_table("task_clock", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_task_clock_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_clock_due_at"), ["due_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_task_clock_missed_at"), ["missed_at"], unique=False)
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("flow", sa.String(length=80), nullable=True))


def downgrade():
    with op.batch_alter_table("case_event", schema=None) as batch_op:
        batch_op.drop_column("flow")
    with op.batch_alter_table("task_clock", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_task_clock_missed_at"))
        batch_op.drop_index(batch_op.f("ix_task_clock_due_at"))
        batch_op.drop_index(batch_op.f("ix_task_clock_case_id"))
    op.drop_table("task_clock")
