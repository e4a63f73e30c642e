"""Alembic environment: runs migrations on the URL the service was given."""

from alembic import context
from sqlalchemy import create_engine

from clusterlink.store.models import Base

config = context.config
url = config.get_main_option("sqlalchemy.url")
connectable = create_engine(url)
with connectable.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=url.startswith("sqlite"),
    )
    with context.begin_transaction():
        context.run_migrations()
connectable.dispose()
