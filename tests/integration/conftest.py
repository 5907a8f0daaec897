"""Integration tests share the real stack with the end-to-end tests: `tests/stack.py`, fixtures in tests/conftest.py."""

from tests.stack import JWT_SECRET, Api, TopicReader, wait_for

__all__ = ["JWT_SECRET", "Api", "TopicReader", "wait_for"]
