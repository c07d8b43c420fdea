"""linked flows: the flow episode that made each hand-over

Revision ID: 0009
Revises: 0008
"""

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade():
    with op.batch_alter_table("handover", schema=None) as batch_op:
        batch_op.add_column(sa.Column("from_instance_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_handover_from_instance_id_process_instance", "process_instance", ["from_instance_id"], ["id"]
        )


def downgrade():
    with op.batch_alter_table("handover", schema=None) as batch_op:
        batch_op.drop_constraint("fk_handover_from_instance_id_process_instance", type_="foreignkey")
        batch_op.drop_column("from_instance_id")
