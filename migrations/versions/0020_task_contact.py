"""the task mirror keeps when and by whom its case's contact was made, so the managers' dashboard filters the
open work by them without looking up each task's case; and an index in the dashboard's order

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("task", sa.Column("contact_made_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("task", sa.Column("referral_source", sa.String(length=3), nullable=True))
    op.execute(
        "UPDATE task SET "
        "contact_made_at = (SELECT created_at FROM case_record WHERE case_record.id = task.case_id), "
        "referral_source = (SELECT referral_source FROM case_record WHERE case_record.id = task.case_id)"
    )
    with op.batch_alter_table("task") as batch:
        batch.alter_column("contact_made_at", existing_type=sa.DateTime(timezone=True), nullable=False)
    op.create_index("ix_task_due_order", "task", ["due_at", "created_at", "id"])


def downgrade():
    op.drop_index("ix_task_due_order", table_name="task")
    with op.batch_alter_table("task") as batch:
        batch.drop_column("referral_source")
        batch.drop_column("contact_made_at")
