"""links: source and destination cluster ids; link_acls: the ACLs a link created

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from alembic import op
import sqlalchemy as sa


revision = '0005'
down_revision = '0004'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('links') as batch:
        batch.add_column(sa.Column('source_cluster_id', sa.String(length=64), nullable=True))
        batch.add_column(sa.Column('destination_cluster_id', sa.String(length=64), nullable=True))
    op.create_table(
        'link_acls',
        sa.Column('link_id', sa.Integer(), sa.ForeignKey('links.id', ondelete='CASCADE'), nullable=False),
        sa.Column('resource_type', sa.String(length=32), nullable=False),
        sa.Column('resource_name', sa.String(length=512), nullable=False),
        sa.Column('pattern_type', sa.String(length=16), nullable=False),
        sa.Column('principal', sa.String(length=512), nullable=False),
        sa.Column('host', sa.String(length=255), nullable=False),
        sa.Column('operation', sa.String(length=32), nullable=False),
        sa.Column('permission_type', sa.String(length=16), nullable=False),
        sa.PrimaryKeyConstraint('link_id', 'resource_type', 'resource_name', 'pattern_type', 'principal', 'host',
                                'operation', 'permission_type'),
    )


def downgrade() -> None:
    op.drop_table('link_acls')
    with op.batch_alter_table('links') as batch:
        batch.drop_column('destination_cluster_id')
        batch.drop_column('source_cluster_id')
