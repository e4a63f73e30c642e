"""replicas: the serve processes sharing the database; who copies a partition, who runs a task

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-03
"""

from alembic import op
import sqlalchemy as sa


revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        'replicas',
        sa.Column('id', sa.String(length=255), nullable=False),
        sa.Column('address', sa.String(length=255), nullable=False, server_default=''),
        sa.Column('start_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('heartbeat_time', sa.DateTime(timezone=True), nullable=False),
        sa.Column('owned', sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint('id'),
    )
    # Nullable and not a foreign key: rows written before the upgrade, or by a
    # replica since pruned, simply name no replica (or the last one).
    with op.batch_alter_table('mirror_partitions') as batch:
        batch.add_column(sa.Column('replica_id', sa.String(length=255), nullable=True))
    with op.batch_alter_table('link_tasks') as batch:
        batch.add_column(sa.Column('replica_id', sa.String(length=255), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('link_tasks') as batch:
        batch.drop_column('replica_id')
    with op.batch_alter_table('mirror_partitions') as batch:
        batch.drop_column('replica_id')
    op.drop_table('replicas')
