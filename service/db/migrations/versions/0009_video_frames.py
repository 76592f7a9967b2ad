"""videos in the bank: each sampled frame of a banked video, pointing at its frame code (issue 14)

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-04

A banked video is a case item of kind ``video``. Its distinct usable frame codes are
ordinary bank hashes (signal ``vpdq``), so the index, withdrawals, suspensions and the
change log need nothing new; ``video_frames`` keeps the timeline (which code each sampled
frame had, and when), which the vPDQ rule needs to count shares and name time ranges.
A video's match event keeps what the moderator needs to find it (shares, time ranges).
``remote_videos`` gives each video a mirrored bank holds its own local item.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0009'
down_revision = '0008'
branch_labels = None
depends_on = None

BigId = sa.BigInteger().with_variant(sa.Integer(), 'sqlite')


def upgrade() -> None:
    op.create_table('video_frames',
    sa.Column('id', BigId, nullable=False),
    sa.Column('item_id', BigId, nullable=False),
    sa.Column('hash_id', BigId, nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.Column('frame', sa.Integer(), nullable=False),
    sa.Column('time', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['item_id'], ['case_items.id'], name=op.f('fk_video_frames_item_id_case_items')),
    sa.ForeignKeyConstraint(['hash_id'], ['bank_hashes.id'], name=op.f('fk_video_frames_hash_id_bank_hashes')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_video_frames')),
    sa.UniqueConstraint('item_id', 'position', name='uq_video_frames_item_position')
    )
    with op.batch_alter_table('video_frames', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_video_frames_hash_id'), ['hash_id'], unique=False)
    op.add_column('match_events', sa.Column('video', sa.JSON(), nullable=True))
    op.create_table('remote_videos',
    sa.Column('source_id', BigId, nullable=False),
    sa.Column('remote_video_id', sa.String(length=64), nullable=False),
    sa.Column('item_id', BigId, nullable=False),
    sa.ForeignKeyConstraint(['source_id'], ['hash_sources.id'], name=op.f('fk_remote_videos_source_id_hash_sources')),
    sa.ForeignKeyConstraint(['item_id'], ['case_items.id'], name=op.f('fk_remote_videos_item_id_case_items')),
    sa.PrimaryKeyConstraint('source_id', 'remote_video_id', name=op.f('pk_remote_videos')),
    sa.UniqueConstraint('item_id', name=op.f('uq_remote_videos_item_id'))
    )


def downgrade() -> None:
    op.drop_table('remote_videos')
    with op.batch_alter_table('match_events') as batch:
        batch.drop_column('video')
    op.drop_table('video_frames')
