"""initial schema

Revision ID: 0001
Revises: 
Create Date: 2026-11-25
"""

from alembic import op
import sqlalchemy as sa


revision = '0001'
down_revision = None
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=63), nullable=False),
    sa.Column('source', sa.JSON(), nullable=False),
    sa.Column('source_secrets', sa.Text(), nullable=True),
    sa.Column('destination', sa.JSON(), nullable=False),
    sa.Column('destination_secrets', sa.Text(), nullable=True),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('paused', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('create_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('update_time', sa.DateTime(timezone=True), nullable=False),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('name')
    )
    op.create_table('link_tasks',
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('state', sa.String(length=16), nullable=False),
    sa.Column('last_error', sa.Text(), nullable=False),
    sa.Column('last_error_time', sa.DateTime(timezone=True), nullable=True),
    sa.Column('update_time', sa.DateTime(timezone=True), nullable=False),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('link_id', 'name')
    )
    op.create_table('mirror_topics',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('link_id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=249), nullable=False),
    sa.Column('source_topic', sa.String(length=249), nullable=False),
    sa.Column('state', sa.String(length=32), nullable=False),
    sa.Column('reason', sa.Text(), nullable=False),
    sa.Column('delete_destination_topic', sa.Boolean(), nullable=False),
    sa.Column('version', sa.Integer(), nullable=False),
    sa.Column('create_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('update_time', sa.DateTime(timezone=True), nullable=False),
    sa.Column('status_time', sa.DateTime(timezone=True), nullable=True),
    sa.ForeignKeyConstraint(['link_id'], ['links.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id'),
    sa.UniqueConstraint('link_id', 'name')
    )
    with op.batch_alter_table('mirror_topics', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_mirror_topics_link_id'), ['link_id'], unique=False)

    op.create_table('mirror_partitions',
    sa.Column('mirror_topic_id', sa.Integer(), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('source_log_start_offset', sa.BigInteger(), nullable=False),
    sa.Column('source_end_offset', sa.BigInteger(), nullable=False),
    sa.Column('mirror_end_offset', sa.BigInteger(), nullable=False),
    sa.Column('mirrored_source_offset', sa.BigInteger(), nullable=False),
    sa.Column('lag', sa.BigInteger(), nullable=False),
    sa.Column('translated', sa.Boolean(), nullable=False),
    sa.ForeignKeyConstraint(['mirror_topic_id'], ['mirror_topics.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mirror_topic_id', 'partition')
    )
    op.create_table('translation_segments',
    sa.Column('mirror_topic_id', sa.Integer(), nullable=False),
    sa.Column('partition', sa.Integer(), nullable=False),
    sa.Column('destination_offset', sa.BigInteger(), nullable=False),
    sa.Column('source_offset', sa.BigInteger(), nullable=False),
    sa.ForeignKeyConstraint(['mirror_topic_id'], ['mirror_topics.id'], ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('mirror_topic_id', 'partition', 'destination_offset')
    )


def downgrade() -> None:
    op.drop_table('translation_segments')
    op.drop_table('mirror_partitions')
    with op.batch_alter_table('mirror_topics', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_mirror_topics_link_id'))

    op.drop_table('mirror_topics')
    op.drop_table('link_tasks')
    op.drop_table('links')
