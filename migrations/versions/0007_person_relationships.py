"""relationships between people and merged records

Revision ID: 0007
Revises: 0006
"""

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "person_relationship",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person_id", sa.Integer(), nullable=False),
        sa.Column("child_id", sa.Integer(), nullable=False),
        sa.Column("described_as", sa.String(length=100), nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"], name=op.f("fk_person_relationship_case_id_case_record")),
        sa.ForeignKeyConstraint(["child_id"], ["person.id"], name=op.f("fk_person_relationship_child_id_person")),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"], name=op.f("fk_person_relationship_person_id_person")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_person_relationship")),
    )
    with op.batch_alter_table("person_relationship", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_person_relationship_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_relationship_child_id"), ["child_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_person_relationship_person_id"), ["person_id"], unique=False)
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.add_column(sa.Column("merged_into_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_person_merged_into_id"), ["merged_into_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_person_merged_into_id_person"), "person", ["merged_into_id"], ["id"])


def downgrade():
    with op.batch_alter_table("person", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_person_merged_into_id_person"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_person_merged_into_id"))
        batch_op.drop_column("merged_into_id")
    with op.batch_alter_table("person_relationship", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_person_relationship_person_id"))
        batch_op.drop_index(batch_op.f("ix_person_relationship_child_id"))
        batch_op.drop_index(batch_op.f("ix_person_relationship_case_id"))
    op.drop_table("person_relationship")
