"""Alembic environment: the app's engine and every model's metadata."""

from alembic import context
from sqlalchemy import create_engine
from sqlmodel import SQLModel

from app import import_models
from scheduler.sms.models import alembic_include_object

import_models()

config = context.config
target_metadata = SQLModel.metadata


def run_migrations() -> None:
    engine = config.attributes.get("engine")
    if engine is None:
        engine = create_engine(config.get_main_option("sqlalchemy.url"))
    with engine.connect() as connection:
        context.configure(
            connection=connection,
            target_metadata=target_metadata,
            render_as_batch=connection.dialect.name == "sqlite",
            compare_type=True,
            # sms_message's wave partitions (PostgreSQL) are made at run time
            include_object=alembic_include_object,
        )
        with context.begin_transaction():
            context.run_migrations()
        connection.commit()


run_migrations()
