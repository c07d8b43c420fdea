"""people search and involvement imported from the main record system

Revision ID: 0003
Revises: 0002
"""

from alembic import op
import sqlalchemy as sa

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table('involvement',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=30), nullable=False),
    sa.Column('status', sa.String(length=10), nullable=False),
    sa.Column('started_on', sa.Date(), nullable=True),
    sa.Column('ended_on', sa.Date(), nullable=True),
    sa.Column('allocated_worker_username', sa.String(length=80), nullable=True),
    sa.Column('allocated_worker_id', sa.Integer(), nullable=True),
    sa.Column('team', sa.String(length=40), nullable=True),
    sa.Column('worker_name', sa.String(length=120), nullable=True),
    sa.Column('external_id', sa.String(length=80), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('imported_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_involvement_person_id_person')),
    sa.ForeignKeyConstraint(['allocated_worker_id'], ['user_account.id'], name=op.f('fk_involvement_allocated_worker_id_user_account')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_involvement')),
    sa.UniqueConstraint('kind', 'external_id', name='uq_involvement_kind_external_id')
    )
    with op.batch_alter_table('involvement', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_involvement_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_involvement_started_on'), ['started_on'], unique=False)

    op.create_table('person_name_part',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('person_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('part', sa.String(length=80), nullable=False),
    sa.Column('sound', sa.String(length=8), nullable=False),
    sa.ForeignKeyConstraint(['person_id'], ['person.id'], name=op.f('fk_person_name_part_person_id_person')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_person_name_part'))
    )
    with op.batch_alter_table('person_name_part', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_person_name_part_part'), ['part'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_name_part_person_id'), ['person_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_person_name_part_sound'), ['sound'], unique=False)


def downgrade():
    with op.batch_alter_table('person_name_part', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_person_name_part_sound'))
        batch_op.drop_index(batch_op.f('ix_person_name_part_person_id'))
        batch_op.drop_index(batch_op.f('ix_person_name_part_part'))

    op.drop_table('person_name_part')
    with op.batch_alter_table('involvement', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_involvement_started_on'))
        batch_op.drop_index(batch_op.f('ix_involvement_person_id'))

    op.drop_table('involvement')
