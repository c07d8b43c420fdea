"""outbox delivery: retry schedule, last error and how each item went

Revision ID: 0008
Revises: 0007
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("outbox_item", schema=None) as batch_op:
        batch_op.add_column(sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("last_error", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("delivered_via", sa.String(length=20), nullable=True))
        batch_op.create_index(batch_op.f("ix_outbox_item_next_attempt_at"), ["next_attempt_at"], unique=False)


def downgrade():
    with op.batch_alter_table("outbox_item", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_outbox_item_next_attempt_at"))
        batch_op.drop_column("delivered_via")
        batch_op.drop_column("last_error")
        batch_op.drop_column("next_attempt_at")
