"""review decisions and hash reputation

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-29

Moderators' decisions on match events, and per bank hash the counts that drive the
suspension rule (hashes that reviewers at several platforms reject stop matching).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('review_decisions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('match_event_id', BigId, nullable=False),
    sa.Column('platform_id', BigId, nullable=False),
    sa.Column('hash_id', BigId, nullable=False),
    sa.Column('decided_by', sa.String(length=64), nullable=False),
    sa.Column('decision', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('supersedes_id', BigId, nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("decision IN ('ncii_remove', 'not_ncii', 'escalate')", name=op.f('ck_review_decisions_decision')),
    sa.ForeignKeyConstraint(['match_event_id'], ['match_events.id'], name=op.f('fk_review_decisions_match_event_id_match_events')),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_review_decisions_platform_id_platforms')),
    sa.ForeignKeyConstraint(['hash_id'], ['bank_hashes.id'], name=op.f('fk_review_decisions_hash_id_bank_hashes')),
    sa.ForeignKeyConstraint(['supersedes_id'], ['review_decisions.id'], name=op.f('fk_review_decisions_supersedes_id_review_decisions')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_review_decisions'))
    )
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_review_decisions_match_event_id'), ['match_event_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_review_decisions_platform_id'), ['platform_id'], unique=False)
        batch_op.create_index('ix_review_decisions_hash_decision', ['hash_id', 'decision'], unique=False)

    op.create_table('hash_reputation',
    sa.Column('hash_id', BigId, nullable=False),
    sa.Column('ncii_count', sa.Integer(), nullable=False),
    sa.Column('not_ncii_count', sa.Integer(), nullable=False),
    sa.Column('escalate_count', sa.Integer(), nullable=False),
    sa.Column('not_ncii_platforms', sa.Integer(), nullable=False),
    sa.Column('updated_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('suspended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['hash_id'], ['bank_hashes.id'], name=op.f('fk_hash_reputation_hash_id_bank_hashes')),
    sa.PrimaryKeyConstraint('hash_id', name=op.f('pk_hash_reputation'))
    )


def downgrade() -> None:
    op.drop_table('hash_reputation')
    with op.batch_alter_table('review_decisions', schema=None) as batch_op:
        batch_op.drop_index('ix_review_decisions_hash_decision')
        batch_op.drop_index(batch_op.f('ix_review_decisions_platform_id'))
        batch_op.drop_index(batch_op.f('ix_review_decisions_match_event_id'))
    op.drop_table('review_decisions')
