"""webhook secret rotation with a grace period

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-29

After a rotation the previous secret (version - 1, derived, never stored) keeps signing beside
the new one until ``previous_secret_until``.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('webhook_endpoints', sa.Column('previous_secret_until', sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('webhook_endpoints') as batch:
        batch.drop_column('previous_secret_until')
