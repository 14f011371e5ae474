"""The relay's storage: SQLAlchemy 2 models, the engine, and the Alembic migrations."""
