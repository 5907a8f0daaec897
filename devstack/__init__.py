"""Runs the real infrastructure (Kafka broker, MinIO, PostgreSQL) and the services without Docker.

Used by `make up` (through `eakte up`) and by the test suite. Nothing here is part of the product's
runtime: in production, `docker compose up` or the city's own platform provides these servers.
"""
