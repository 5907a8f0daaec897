"""The workflow service's schema history (Alembic): see shared/migrations.py and the README's "Migrations"."""
