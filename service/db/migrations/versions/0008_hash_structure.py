"""bank hashes carry their PDQ structure (gradient energy, uncapped)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-03

The matching policy holds a pair of hashes to a threshold that falls with the
structure of its less structured side (docs/matching.md). Rows from before this
revision, and hashes imported from plain lists, have none: they are banded by
their quality, the cautious reading.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('bank_hashes', sa.Column('structure', sa.Integer(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('bank_hashes') as batch:
        batch.drop_column('structure')
