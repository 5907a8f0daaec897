"""Create the topics and the ACLs as the admin principal: `make up` and the tests (devstack), compose's kafka-init.

    EAKTE_KAFKA_BOOTSTRAP=kafka:9092 EAKTE_KAFKA_USERNAME=admin EAKTE_KAFKA_PASSWORD=... python -m shared.kafka_setup

Idempotent: existing topics and ACLs stay. The services themselves may create nothing (shared.kafka_acl).
With `EAKTE_KAFKA_OPERATOR_PASSWORD` set, the operator principal's SCRAM user (IT's dead-letter repair) is added
when the broker does not have it yet (a broker formatted before it existed).
"""

import sys

from kafka.admin import KafkaAdminClient, ScramMechanism, UserScramCredentialUpsertion

from shared.events import ALL_TOPICS
from shared.kafka_acl import all_rules
from shared.messaging import apply_acls, create_topics, kafka_python_auth
from shared.settings import Settings, get_settings


def add_missing_users(bootstrap: str, credentials: dict[str, str], username: str, password: str) -> list[str]:
    """Add the SCRAM-SHA-512 users of `credentials` the broker does not know (as the admin); the names added."""
    admin = KafkaAdminClient(bootstrap_servers=bootstrap, **kafka_python_auth(username, password))
    try:
        known = set(admin.describe_user_scram_credentials())
        missing = [
            UserScramCredentialUpsertion(name, ScramMechanism.SCRAM_SHA_512, secret)
            for name, secret in credentials.items()
            if name not in known
        ]
        if missing:
            failed = {user: error for user, error in admin.alter_user_scram_credentials(missing).items() if error}
            if failed:
                raise RuntimeError(f"Kafka refused the SCRAM users {failed}")
        return [upsertion.user for upsertion in missing]
    finally:
        admin.close()


def set_up_kafka(settings: Settings) -> tuple[list[str], int]:
    """The topics created now and the number of ACL bindings in force."""
    admin = (settings.kafka_username, settings.kafka_password)
    if settings.kafka_operator_password:
        operator = {settings.kafka_operator_username: settings.kafka_operator_password}
        add_missing_users(settings.kafka_bootstrap, operator, *admin)
    created = create_topics(settings.kafka_bootstrap, ALL_TOPICS, settings.kafka_partitions, *admin)
    return created, apply_acls(settings.kafka_bootstrap, all_rules(), *admin)


def main() -> int:
    settings = get_settings()
    created, acls = set_up_kafka(settings)
    print(f"[eakte] Kafka {settings.kafka_bootstrap}: {len(created)} topics created, {acls} ACL bindings in force")
    return 0


if __name__ == "__main__":
    sys.exit(main())
