"""Workflow service: turns ingested documents into approval tasks and records decisions."""
