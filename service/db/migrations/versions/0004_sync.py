"""hash sources (imported lists, mirrored remote banks) and the remote hashes they map

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29

Hashes that no victim submitted here (an admin's imported list, a remote hotline's bank
mirrored by ``ncii sync``) live in ``bank_hashes`` like any other, under one synthetic case
per source; these tables say where they came from and hold each remote's checkpoint.
Nothing in ``bank_hashes`` changes, so the upgrade is instant on a large bank.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('hash_sources',
    sa.Column('id', BigId, nullable=False),
    sa.Column('kind', sa.String(length=16), nullable=False),
    sa.Column('name', sa.String(length=400), nullable=False),
    sa.Column('url', sa.String(length=2000), nullable=True),
    sa.Column('dialect', sa.String(length=16), nullable=True),
    sa.Column('case_id', BigId, nullable=False),
    sa.Column('checkpoint', sa.Text(), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('synced_at', sa.DateTime(timezone=True), nullable=True),
    sa.CheckConstraint("kind IN ('import', 'remote')", name=op.f('ck_hash_sources_kind')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_hash_sources_case_id_cases')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hash_sources')),
    sa.UniqueConstraint('case_id', name=op.f('uq_hash_sources_case_id')),
    sa.UniqueConstraint('kind', 'name', name='uq_hash_sources_kind_name')
    )
    op.create_table('remote_hashes',
    sa.Column('source_id', BigId, nullable=False),
    sa.Column('remote_key', sa.String(length=200), nullable=False),
    sa.Column('hash_id', BigId, nullable=False),
    sa.Column('active', sa.Boolean(), nullable=False),
    sa.Column('reason', sa.String(length=32), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['hash_sources.id'], name=op.f('fk_remote_hashes_source_id_hash_sources')),
    sa.ForeignKeyConstraint(['hash_id'], ['bank_hashes.id'], name=op.f('fk_remote_hashes_hash_id_bank_hashes')),
    sa.PrimaryKeyConstraint('source_id', 'remote_key', name=op.f('pk_remote_hashes'))
    )
    with op.batch_alter_table('remote_hashes', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_remote_hashes_hash_id'), ['hash_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('remote_hashes', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_remote_hashes_hash_id'))
    op.drop_table('remote_hashes')
    op.drop_table('hash_sources')
