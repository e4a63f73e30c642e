"""mirror_topics: restore (failback) request and progress; a producer id per mirror topic

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-02
"""

from alembic import op
import sqlalchemy as sa


revision = '0006'
down_revision = '0005'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('mirror_topics') as batch:
        batch.add_column(sa.Column('restore_enabled', sa.Boolean(), nullable=False, server_default=sa.false()))
        batch.add_column(sa.Column('set_aside_topic', sa.String(length=249), nullable=False, server_default=''))
        batch.add_column(sa.Column('restore_state', sa.String(length=16), nullable=False, server_default=''))
        batch.add_column(sa.Column('restore_partitions', sa.JSON(), nullable=True))
        batch.add_column(sa.Column('producer_id', sa.BigInteger(), nullable=True))
    # Mirrors that wrote with their link's producer id keep it, so a write of a
    # session from before the upgrade is still fenced by the broker.
    op.execute("UPDATE mirror_topics SET producer_id = "
               "(SELECT links.producer_id FROM links WHERE links.id = mirror_topics.link_id)")


def downgrade() -> None:
    with op.batch_alter_table('mirror_topics') as batch:
        batch.drop_column('producer_id')
        batch.drop_column('restore_partitions')
        batch.drop_column('restore_state')
        batch.drop_column('set_aside_topic')
        batch.drop_column('restore_enabled')
