"""LADO allegations: the flow's own records

Revision ID: 0012
Revises: 0011
"""

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "lado_allegation",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=True),
        sa.Column("subject_name", sa.String(length=200), nullable=True),
        sa.Column("subject_role", sa.String(length=200), nullable=True),
        sa.Column("subject_employer", sa.String(length=200), nullable=True),
        sa.Column("subject_date_of_birth", sa.Date(), nullable=True),
        sa.Column("employer_contact_name", sa.String(length=200), nullable=True),
        sa.Column("employer_contact_email", sa.String(length=200), nullable=True),
        sa.Column("opened_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("consideration_due_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("considered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("considered_in_time", sa.Boolean(), nullable=True),
        sa.Column("harm_criteria", sa.JSON(), nullable=False),
        sa.Column("initial_decision", sa.String(length=20), nullable=True),
        sa.Column("initial_rationale", sa.Text(), nullable=True),
        sa.Column("meetings", sa.JSON(), nullable=False),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("regulator", sa.String(length=40), nullable=True),
        sa.Column("outcome", sa.String(length=20), nullable=True),
        sa.Column("outcome_rationale", sa.Text(), nullable=True),
        sa.Column("dbs_referred_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("retain_until", sa.Date(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_lado_allegation_case_id_case_record")),
        sa.ForeignKeyConstraint(
            ["instance_id"], ["process_instance.id"], name=op.f("fk_lado_allegation_instance_id_process_instance")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lado_allegation")),
    )
    with op.batch_alter_table("lado_allegation", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_lado_allegation_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_lado_allegation_opened_at"), ["opened_at"], unique=False)
        batch_op.create_index(batch_op.f("ix_lado_allegation_closed_at"), ["closed_at"], unique=False)


def downgrade():
    with op.batch_alter_table("lado_allegation", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_lado_allegation_closed_at"))
        batch_op.drop_index(batch_op.f("ix_lado_allegation_opened_at"))
        batch_op.drop_index(batch_op.f("ix_lado_allegation_case_id"))

    op.drop_table("lado_allegation")
