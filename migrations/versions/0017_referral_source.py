"""who made each contact, as a census referral source code

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade():
    # A plain ALTER on both databases: a table rebuild of case_record is refused by its foreign keys on SQLite.
    op.add_column("case_record", sa.Column("referral_source", sa.String(length=3), nullable=True))
    op.create_index("ix_case_record_referral_source", "case_record", ["referral_source"])
    # Contacts recorded before the code was asked: police notifications came from the police; others are unknown.
    op.execute("UPDATE case_record SET referral_source = '6' WHERE request_type = 'da_notification'")
    op.execute(
        "UPDATE case_record SET referral_source = '10' "
        "WHERE referral_source IS NULL AND request_type <> 'information_request'"
    )


def downgrade():
    op.drop_index("ix_case_record_referral_source", table_name="case_record")
    op.drop_column("case_record", "referral_source")
