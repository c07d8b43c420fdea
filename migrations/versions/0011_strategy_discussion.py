"""strategy discussions: the flow's own records

Revision ID: 0011
Revises: 0010
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "strategy_discussion",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("child_id", sa.Integer(), nullable=True),
        sa.Column("arranged_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("arranged_by_id", sa.Integer(), nullable=True),
        sa.Column("meeting_on", sa.Date(), nullable=True),
        sa.Column("meeting_time", sa.String(length=5), nullable=True),
        sa.Column("meeting_place", sa.Text(), nullable=True),
        sa.Column("chair", sa.String(length=20), nullable=False),
        sa.Column("chair_name", sa.String(length=200), nullable=False),
        sa.Column("missing_or_exploitation", sa.Boolean(), nullable=False),
        sa.Column("invitees", sa.JSON(), nullable=False),
        sa.Column("held_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("how_held", sa.String(length=20), nullable=True),
        sa.Column("attendees", sa.JSON(), nullable=False),
        sa.Column("contributions", sa.JSON(), nullable=False),
        sa.Column("decision", sa.String(length=30), nullable=True),
        sa.Column("s47", sa.Boolean(), nullable=False),
        sa.Column("police_investigation", sa.Boolean(), nullable=False),
        sa.Column("plan", sa.JSON(), nullable=False),
        sa.Column("agreed_actions", sa.Text(), nullable=True),
        sa.Column("rationale_social_care", sa.Text(), nullable=True),
        sa.Column("rationale_police", sa.Text(), nullable=True),
        sa.Column("s47_started_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("icpc_due_on", sa.Date(), nullable=True),
        sa.Column("recorded_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name="fk_strategy_discussion_case_id_case_record"),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name="fk_strategy_discussion_instance_id_process_instance"
        ),
        sa.ForeignKeyConstraint(["child_id"], ["case_person.id"], name="fk_strategy_discussion_child_id_case_person"),
        sa.ForeignKeyConstraint(
            ["arranged_by_id"], ["user_account.id"], name="fk_strategy_discussion_arranged_by_id_user_account"
        ),
        sa.ForeignKeyConstraint(
            ["recorded_by_id"], ["user_account.id"], name="fk_strategy_discussion_recorded_by_id_user_account"
        ),
        sa.PrimaryKeyConstraint("id", name="pk_strategy_discussion"),
    )
    with op.batch_alter_table("strategy_discussion", schema=None) as batch_op:
        batch_op.create_index("ix_strategy_discussion_case_id", ["case_id"], unique=False)
        batch_op.create_index("ix_strategy_discussion_instance_id", ["instance_id"], unique=False)
        batch_op.create_index("ix_strategy_discussion_held_at", ["held_at"], unique=False)
        batch_op.create_index("ix_strategy_discussion_icpc_due_on", ["icpc_due_on"], unique=False)


def downgrade():
    with op.batch_alter_table("strategy_discussion", schema=None) as batch_op:
        batch_op.drop_index("ix_strategy_discussion_icpc_due_on")
        batch_op.drop_index("ix_strategy_discussion_held_at")
        batch_op.drop_index("ix_strategy_discussion_instance_id")
        batch_op.drop_index("ix_strategy_discussion_case_id")
    op.drop_table("strategy_discussion")
