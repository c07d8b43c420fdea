"""need to know: sealed audit chains, restricted records with reasons, sign-in lock-out, scoped expiring tokens,
the lawful basis of each sharing step, retention reviews

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "audit_chain",
        sa.Column("key", sa.String(length=40), nullable=False),
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("last_hash", sa.String(length=64), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("chain", sa.String(length=40), nullable=True))
        batch_op.add_column(sa.Column("seq", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("prev_hash", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("hash", sa.String(length=64), nullable=True))
        batch_op.create_index("ix_audit_event_chain_seq", ["chain", "seq"], unique=True)
    _seal_existing_events()
    from app.models.audit import HEAD_TRIGGER, SEAL_TRIGGER

    for statement in SEAL_TRIGGER.get(op.get_bind().dialect.name, []) + HEAD_TRIGGER.get(
        op.get_bind().dialect.name, []
    ):
        op.execute(statement)

    op.create_table(
        "login_guard",
        sa.Column("username", sa.String(length=80), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("locked_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("username"),
    )
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.add_column(sa.Column("scopes", sa.String(length=120), nullable=False, server_default="read write"))
        batch_op.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.alter_column("scopes", server_default=None)
    # Tokens made before scopes could do all three things: they keep doing them (a police feed sending
    # notifications must not stop at the deploy), and they expire like new ones, 90 days from now.
    from datetime import UTC, datetime, timedelta

    op.get_bind().execute(
        sa.text("UPDATE api_token SET scopes = 'read write notifications', expires_at = :until"),
        {"until": datetime.now(UTC) + timedelta(days=90)},
    )

    # Plain ALTER TABLE, not a batch: a batch rebuilds the table on SQLite, and the rebuild's DROP TABLE is
    # refused while other tables' rows point at the cases (foreign keys are on).
    op.add_column("case_record", sa.Column("restricted", sa.Boolean(), nullable=False, server_default=sa.false()))
    op.create_index("ix_case_record_restricted", "case_record", ["restricted"], unique=False)
    if op.get_bind().dialect.name == "postgresql":
        op.alter_column("case_record", "restricted", server_default=None)
    op.create_table(
        "case_access_reason",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("case_access_reason", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_case_access_reason_at"), ["at"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_access_reason_case_id"), ["case_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_case_access_reason_user_id"), ["user_id"], unique=False)
    _sharing_records()


def _sharing_records():
    op.create_table(
        "sharing_record",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("flow", sa.String(length=80), nullable=False),
        sa.Column("task_id", sa.String(length=36), nullable=True),
        sa.Column("what", sa.String(length=200), nullable=False),
        sa.Column("basis", sa.String(length=40), nullable=False),
        sa.Column("consents", sa.JSON(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.ForeignKeyConstraint(["case_id"], ["case_record.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("sharing_record", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_sharing_record_case_id"), ["case_id"], unique=False)
    op.create_table(
        "retention_review",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("case_id", sa.Integer(), nullable=False),
        sa.Column("reference", sa.String(length=20), nullable=False),
        sa.Column("decision", sa.String(length=10), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("keep_until", sa.Date(), nullable=True),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["user_account.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("retention_review", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_retention_review_case_id"), ["case_id"], unique=False)


def _seal_existing_events():
    """Events recorded before chains existed are sealed now, in the order they were recorded."""
    import json
    from datetime import UTC, datetime

    from app.services.audit_chain import chain_of, event_hash

    bind = op.get_bind()
    heads = {}
    rows = bind.execute(sa.text("SELECT id, name, at, user_id, case_id, task_id, data FROM audit_event ORDER BY id"))
    for row in rows.mappings().all():
        at = row["at"] if isinstance(row["at"], datetime) else datetime.fromisoformat(str(row["at"]))
        at = at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)
        data = row["data"] if isinstance(row["data"], dict) else json.loads(row["data"] or "{}")
        key = chain_of(row["case_id"])
        seq, last = heads.get(key, (0, ""))
        fields = {
            "name": row["name"],
            "at": at.strftime("%Y-%m-%dT%H:%M:%S.%f"),
            "user_id": row["user_id"],
            "case_id": row["case_id"],
            "task_id": row["task_id"],
            "data": data or {},
        }
        digest = event_hash(key, seq + 1, last, fields)
        bind.execute(
            sa.text("UPDATE audit_event SET chain = :c, seq = :s, prev_hash = :p, hash = :h WHERE id = :i"),
            {"c": key, "s": seq + 1, "p": last, "h": digest, "i": row["id"]},
        )
        heads[key] = (seq + 1, digest)
    for key, (seq, last) in heads.items():
        bind.execute(
            sa.text("INSERT INTO audit_chain (key, seq, last_hash) VALUES (:k, :s, :h)"),
            {"k": key, "s": seq, "h": last},
        )


def downgrade():
    with op.batch_alter_table("retention_review", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_retention_review_case_id"))
    op.drop_table("retention_review")
    with op.batch_alter_table("sharing_record", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_sharing_record_case_id"))
    op.drop_table("sharing_record")
    with op.batch_alter_table("case_access_reason", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_case_access_reason_user_id"))
        batch_op.drop_index(batch_op.f("ix_case_access_reason_case_id"))
        batch_op.drop_index(batch_op.f("ix_case_access_reason_at"))
    op.drop_table("case_access_reason")
    op.drop_index("ix_case_record_restricted", table_name="case_record")
    with op.batch_alter_table("case_record", schema=None) as batch_op:
        batch_op.drop_column("restricted")
    with op.batch_alter_table("api_token", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
        batch_op.drop_column("scopes")
    op.drop_table("login_guard")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_sealed ON audit_event")
        op.execute("DROP FUNCTION IF EXISTS audit_event_sealed()")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_forward ON audit_chain")
        op.execute("DROP FUNCTION IF EXISTS audit_chain_forward()")
    else:
        op.execute("DROP TRIGGER IF EXISTS audit_event_sealed")
        op.execute("DROP TRIGGER IF EXISTS audit_chain_forward")
    with op.batch_alter_table("audit_event", schema=None) as batch_op:
        batch_op.drop_index("ix_audit_event_chain_seq")
        batch_op.drop_column("hash")
        batch_op.drop_column("prev_hash")
        batch_op.drop_column("seq")
        batch_op.drop_column("chain")
    op.drop_table("audit_chain")
