"""process owners' work: a draft of each flow's next version, numbered versions, and each running flow
moved from one version to another (kept so the move can be undone)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("process_bundle", sa.Column("number", sa.Integer(), nullable=True))
    # The versions already stored are numbered in the order they were stored, within each flow.
    op.execute(
        "UPDATE process_bundle SET number = ("
        "SELECT COUNT(*) FROM process_bundle AS earlier "
        "WHERE earlier.flow = process_bundle.flow AND earlier.id <= process_bundle.id)"
    )
    op.create_index("ix_process_bundle_flow_number", "process_bundle", ["flow", "number"], unique=True)
    op.create_table(
        "process_draft",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=80), nullable=False),
        sa.Column("files", sa.JSON(), nullable=False),
        sa.Column("forms", sa.JSON(), nullable=False),
        sa.Column("base_bundle_id", sa.Integer(), nullable=True),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by_id", sa.Integer(), nullable=True),
        sa.Column("replay_hash", sa.String(length=64), nullable=True),
        sa.Column("replay_report", sa.JSON(), nullable=True),
        sa.Column("replayed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["base_bundle_id"], ["process_bundle.id"]),
        sa.ForeignKeyConstraint(["updated_by_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("flow"),
    )
    op.create_table(
        "instance_migration",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("instance_id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=80), nullable=False),
        sa.Column("from_bundle_id", sa.Integer(), nullable=False),
        sa.Column("to_bundle_id", sa.Integer(), nullable=False),
        sa.Column("state_before", sa.Text(), nullable=False),
        sa.Column("version_before", sa.Integer(), nullable=False),
        sa.Column("version_after", sa.Integer(), nullable=False),
        sa.Column("changes", sa.JSON(), nullable=False),
        sa.Column("migrated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("migrated_by_id", sa.Integer(), nullable=True),
        sa.Column("reverted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reverted_by_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"]),
        sa.ForeignKeyConstraint(["from_bundle_id"], ["process_bundle.id"]),
        sa.ForeignKeyConstraint(["instance_id"], ["process_instance.id"]),
        sa.ForeignKeyConstraint(["migrated_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["reverted_by_id"], ["user_account.id"]),
        sa.ForeignKeyConstraint(["to_bundle_id"], ["process_bundle.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_instance_migration_instance_id", "instance_migration", ["instance_id"])
    op.create_index("ix_instance_migration_case_id", "instance_migration", ["case_id"])


def downgrade():
    op.drop_index("ix_instance_migration_case_id", table_name="instance_migration")
    op.drop_index("ix_instance_migration_instance_id", table_name="instance_migration")
    op.drop_table("instance_migration")
    op.drop_table("process_draft")
    op.drop_index("ix_process_bundle_flow_number", table_name="process_bundle")
    op.drop_column("process_bundle", "number")
