"""The project's own shared package: event contracts, settings, auth and adapters used by every service."""
