"""mirror_topics.destination_topic_id: the destination topic a mirror copies into

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04
"""

from alembic import op
import sqlalchemy as sa


revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Mirrors that exist already get their id the next time they are prepared.
    with op.batch_alter_table('mirror_topics') as batch:
        batch.add_column(sa.Column('destination_topic_id', sa.String(length=64), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('mirror_topics') as batch:
        batch.drop_column('destination_topic_id')
