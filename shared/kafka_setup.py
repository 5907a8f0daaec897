"""Create the topics and the ACLs as the admin principal: `make up` and the tests (devstack), compose's kafka-init.

    EAKTE_KAFKA_BOOTSTRAP=kafka:9092 EAKTE_KAFKA_USERNAME=admin EAKTE_KAFKA_PASSWORD=... python -m shared.kafka_setup

Idempotent: existing topics and ACLs stay. The services themselves may create nothing (shared.kafka_acl).
"""

import sys

from shared.events import ALL_TOPICS
from shared.kafka_acl import all_rules
from shared.messaging import apply_acls, create_topics
from shared.settings import Settings, get_settings


def set_up_kafka(settings: Settings) -> tuple[list[str], int]:
    """The topics created now and the number of ACL bindings in force."""
    admin = (settings.kafka_username, settings.kafka_password)
    created = create_topics(settings.kafka_bootstrap, ALL_TOPICS, settings.kafka_partitions, *admin)
    return created, apply_acls(settings.kafka_bootstrap, all_rules(), *admin)


def main() -> int:
    settings = get_settings()
    created, acls = set_up_kafka(settings)
    print(f"[eakte] Kafka {settings.kafka_bootstrap}: {len(created)} topics created, {acls} ACL bindings in force")
    return 0


if __name__ == "__main__":
    sys.exit(main())
