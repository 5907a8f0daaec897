"""Alembic's entry point for this service: the common body in shared/migrations.py."""

from alembic import context

from shared.migrations import run_migrations

run_migrations(context)  # type: ignore[arg-type]
