"""Ingest service: takes scanned documents, validates them and stores the original (claim check)."""
