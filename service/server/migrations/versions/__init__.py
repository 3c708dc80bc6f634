"""Alembic revisions of the batch store, oldest first (Alembic reads every module here but this one)."""
