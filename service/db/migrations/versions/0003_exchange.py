"""exchange feedback, platforms' own submissions, and a time index on the change log

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29

Platforms' verdicts on bank hashes (one current row per platform and hash), the synthetic
case that holds each platform's own submitted hashes, and an index on ``change_log.at`` so
the StopNCII dialect (which resumes from a timestamp) finds its starting row without a scan.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0003'
down_revision = '0002'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('exchange_feedback',
    sa.Column('id', BigId, nullable=False),
    sa.Column('platform_id', BigId, nullable=False),
    sa.Column('hash_id', BigId, nullable=False),
    sa.Column('verdict', sa.String(length=16), nullable=False),
    sa.Column('tags', sa.JSON(), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("verdict IN ('pending_review', 'blocked', 'not_blocked')", name=op.f('ck_exchange_feedback_verdict')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_exchange_feedback_platform_id_platforms')),
    sa.ForeignKeyConstraint(['hash_id'], ['bank_hashes.id'], name=op.f('fk_exchange_feedback_hash_id_bank_hashes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_exchange_feedback')),
    sa.UniqueConstraint('platform_id', 'hash_id', name='uq_exchange_feedback_platform_hash')
    )
    with op.batch_alter_table('exchange_feedback', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_exchange_feedback_hash_id'), ['hash_id'], unique=False)

    op.create_table('platform_cases',
    sa.Column('platform_id', BigId, nullable=False),
    sa.Column('case_id', BigId, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_platform_cases_platform_id_platforms')),
    sa.ForeignKeyConstraint(['case_id'], ['cases.id'], name=op.f('fk_platform_cases_case_id_cases')),
    sa.PrimaryKeyConstraint('platform_id', name=op.f('pk_platform_cases')),
    sa.UniqueConstraint('case_id', name=op.f('uq_platform_cases_case_id'))
    )

    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.create_index('ix_change_log_at', ['at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('change_log', schema=None) as batch_op:
        batch_op.drop_index('ix_change_log_at')
    op.drop_table('platform_cases')
    with op.batch_alter_table('exchange_feedback', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_exchange_feedback_hash_id'))
    op.drop_table('exchange_feedback')
