"""moderator accounts, their sessions, hotline actions; preview URLs; reputation clearance

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-29

Moderators log in to the review UI (argon2 password, lockout); a session row keeps only the
SHA-256 of its cookie. Hotline staff reinstate or retire suspended hashes, with a reason
(``hotline_actions``); ``hash_reputation.cleared_at`` marks a reinstatement so that only
later "not NCII" verdicts count. ``match_events.preview_url`` is the platform's own link to
the upload, loaded by the moderator's browser (never by the service).
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('moderators',
    sa.Column('id', BigId, nullable=False),
    sa.Column('name', sa.String(length=64), nullable=False),
    sa.Column('role', sa.String(length=16), nullable=False),
    sa.Column('platform_id', BigId, nullable=True),
    sa.Column('password_hash', sa.String(length=255), nullable=False),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('failed_logins', sa.Integer(), nullable=False),
    sa.Column('locked_until', sa.DateTime(timezone=True), nullable=True),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('password_changed_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("role IN ('platform', 'hotline')", name=op.f('ck_moderators_role')),
    sa.CheckConstraint(
        "(role = 'platform' AND platform_id IS NOT NULL) OR (role = 'hotline' AND platform_id IS NULL)",
        name=op.f('ck_moderators_role_platform'),
    ),
    sa.ForeignKeyConstraint(['platform_id'], ['platforms.id'], name=op.f('fk_moderators_platform_id_platforms')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderators')),
    sa.UniqueConstraint('name', name=op.f('uq_moderators_name'))
    )
    with op.batch_alter_table('moderators', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderators_platform_id'), ['platform_id'], unique=False)

    op.create_table('moderator_sessions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('token_hash', sa.String(length=64), nullable=False),
    sa.Column('moderator_id', BigId, nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('last_seen_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('expires_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['moderator_id'], ['moderators.id'], name=op.f('fk_moderator_sessions_moderator_id_moderators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_moderator_sessions')),
    sa.UniqueConstraint('token_hash', name=op.f('uq_moderator_sessions_token_hash'))
    )
    with op.batch_alter_table('moderator_sessions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_moderator_sessions_moderator_id'), ['moderator_id'], unique=False)

    op.create_table('hotline_actions',
    sa.Column('id', BigId, nullable=False),
    sa.Column('hash_id', BigId, nullable=False),
    sa.Column('moderator_id', BigId, nullable=True),
    sa.Column('action', sa.String(length=16), nullable=False),
    sa.Column('reason', sa.String(length=1000), nullable=False),
    sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
    sa.CheckConstraint("action IN ('reinstate', 'retire')", name=op.f('ck_hotline_actions_action')),
    sa.ForeignKeyConstraint(['hash_id'], ['bank_hashes.id'], name=op.f('fk_hotline_actions_hash_id_bank_hashes')),
    sa.ForeignKeyConstraint(['moderator_id'], ['moderators.id'], name=op.f('fk_hotline_actions_moderator_id_moderators')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_hotline_actions'))
    )
    with op.batch_alter_table('hotline_actions', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_hotline_actions_hash_id'), ['hash_id'], unique=False)

    with op.batch_alter_table('match_events', schema=None) as batch_op:
        batch_op.add_column(sa.Column('preview_url', sa.String(length=2048), nullable=True))
    with op.batch_alter_table('hash_reputation', schema=None) as batch_op:
        batch_op.add_column(sa.Column('cleared_at', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('hash_reputation', schema=None) as batch_op:
        batch_op.drop_column('cleared_at')
    with op.batch_alter_table('match_events', schema=None) as batch_op:
        batch_op.drop_column('preview_url')
    with op.batch_alter_table('hotline_actions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_hotline_actions_hash_id'))
    op.drop_table('hotline_actions')
    with op.batch_alter_table('moderator_sessions', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderator_sessions_moderator_id'))
    op.drop_table('moderator_sessions')
    with op.batch_alter_table('moderators', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_moderators_platform_id'))
    op.drop_table('moderators')
