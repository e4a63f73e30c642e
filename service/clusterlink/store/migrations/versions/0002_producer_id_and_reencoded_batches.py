"""links.producer_id and mirror_partitions.reencoded_batches

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0002'
down_revision = '0001'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.add_column(sa.Column('producer_id', sa.BigInteger(), nullable=True))

    # The server default fills the rows that already exist.
    with op.batch_alter_table('mirror_partitions', schema=None) as batch_op:
        batch_op.add_column(
            sa.Column('reencoded_batches', sa.BigInteger(), server_default='0', nullable=False)
        )


def downgrade() -> None:
    with op.batch_alter_table('mirror_partitions', schema=None) as batch_op:
        batch_op.drop_column('reencoded_batches')

    with op.batch_alter_table('links', schema=None) as batch_op:
        batch_op.drop_column('producer_id')
