"""The store: SQLAlchemy tables, Alembic migrations and the few queries the service needs."""
