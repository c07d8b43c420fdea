"""Multi Agency Triage: the flow's own records

Revision ID: 0010
Revises: 0009
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "mat_decision",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("meeting_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("outcome", sa.String(length=40), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=False),
        sa.Column("consent_override_reason", sa.Text(), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by_id", sa.Integer(), nullable=True),
        sa.Column("final_outcome", sa.String(length=40), nullable=True),
        sa.Column("final_rationale", sa.Text(), nullable=True),
        sa.Column("final_decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("final_decided_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name="fk_mat_decision_case_id_case_record"),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name="fk_mat_decision_instance_id_process_instance"
        ),
        sa.ForeignKeyConstraint(["child_id"], ["case_person.id"], name="fk_mat_decision_child_id_case_person"),
        sa.ForeignKeyConstraint(
            ["decided_by_id"], ["user_account.id"], name="fk_mat_decision_decided_by_id_user_account"
        ),
        sa.ForeignKeyConstraint(
            ["final_decided_by_id"], ["user_account.id"], name="fk_mat_decision_final_decided_by_id_user_account"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_mat_decision"),
    )
    with op.batch_alter_table("mat_decision", schema=None) as batch_op:
        batch_op.create_index("ix_mat_decision_case_id", ["case_id"], unique=False)
        batch_op.create_index("ix_mat_decision_instance_id", ["instance_id"], unique=False)


def downgrade():
    with op.batch_alter_table("mat_decision", schema=None) as batch_op:
        batch_op.drop_index("ix_mat_decision_instance_id")
        batch_op.drop_index("ix_mat_decision_case_id")
    op.drop_table("mat_decision")
