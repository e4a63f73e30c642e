"""link_tasks: error_code, last_success_time and message of the link's sync tasks

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('link_tasks') as batch:
        batch.add_column(sa.Column('error_code', sa.String(length=32), nullable=False, server_default=''))
        batch.add_column(sa.Column('last_success_time', sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column('message', sa.Text(), nullable=False, server_default=''))


def downgrade() -> None:
    with op.batch_alter_table('link_tasks') as batch:
        batch.drop_column('message')
        batch.drop_column('last_success_time')
        batch.drop_column('error_code')
