"""domestic-abuse notifications and their triage: the flow's own records

Revision ID: 0014
Revises: 0013
"""

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "da_notification",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("police_reference", sa.String(length=60), nullable=False),
        sa.Column("received_via", sa.String(length=10), nullable=False),
        sa.Column("incident_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("dash_risk", sa.String(length=10), nullable=False),
        sa.Column("dash_yes_count", sa.Integer(), nullable=True),
        sa.Column("marac", sa.Boolean(), nullable=False),
        sa.Column("repeat", sa.Boolean(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("victim_name", sa.String(length=200), nullable=False),
        sa.Column("victim_address", sa.Text(), nullable=True),
        sa.Column("victim_safe_to_write", sa.Boolean(), nullable=False),
        sa.Column("perpetrator_name", sa.String(length=200), nullable=True),
        sa.Column("children", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_by_id", sa.Integer(), nullable=True),
        sa.Column("payload_hash", sa.String(length=64), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"]),
        sa.ForeignKeyConstraint(["received_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("police_reference"),
    )
    op.create_index("ix_da_notification_case_id", "da_notification", ["case_id"])
    op.create_table(
        "da_triage_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("dash_risk", sa.String(length=10), nullable=False),
        sa.Column("risk_factors", sa.JSON(), nullable=False),
        sa.Column("protective_factors", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.String(length=10), nullable=True),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["decided_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_da_triage_decision_case_id", "da_triage_decision", ["case_id"])


def downgrade():
    op.drop_index("ix_da_triage_decision_case_id", table_name="da_triage_decision")
    op.drop_table("da_triage_decision")
    op.drop_index("ix_da_notification_case_id", table_name="da_notification")
    op.drop_table("da_notification")
