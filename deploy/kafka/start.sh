#!/bin/bash
# The broker of docker-compose.yml: KRaft single node, clients on SASL_PLAINTEXT with SCRAM-SHA-512, ACLs on.
# The SCRAM users (admin + one principal per service) are written into the storage when it is first formatted;
# compose's kafka-init (python -m shared.kafka_setup) then creates the topics and the ACLs as the admin.
# Passwords: letters, digits, '-' and '_' only (they sit inside the SCRAM format syntax and a JAAS string).
set -euo pipefail

for name in ADMIN INGEST WORKFLOW ARCHIVE PORTAL; do
  var="EAKTE_KAFKA_PASSWORD_${name}"
  if [[ ! "${!var:-}" =~ ^[A-Za-z0-9_-]{16,}$ ]]; then
    echo "kafka: ${var} must be set: at least 16 characters of A-Z a-z 0-9 - _" >&2
    exit 1
  fi
done

CONFIG=/tmp/server.properties
cat > "${CONFIG}" <<PROPERTIES
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=localhost:9093
listeners=SASL_PLAINTEXT://:9092,CONTROLLER://localhost:9093
advertised.listeners=SASL_PLAINTEXT://kafka:9092
inter.broker.listener.name=SASL_PLAINTEXT
controller.listener.names=CONTROLLER
listener.security.protocol.map=CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${EAKTE_KAFKA_PASSWORD_ADMIN}";
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
allow.everyone.if.no.acl.found=false
super.users=User:admin;User:ANONYMOUS
log.dirs=/var/lib/kafka/data
num.partitions=3
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
PROPERTIES

# For the health check (and an operator's kafka-*.sh calls) inside the container.
cat > /tmp/admin.properties <<PROPERTIES
security.protocol=SASL_PLAINTEXT
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="admin" password="${EAKTE_KAFKA_PASSWORD_ADMIN}";
PROPERTIES

if [[ ! -f /var/lib/kafka/data/meta.properties ]]; then
  /opt/kafka/bin/kafka-storage.sh format --standalone -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" -c "${CONFIG}" \
    --add-scram "SCRAM-SHA-512=[name=admin,password=${EAKTE_KAFKA_PASSWORD_ADMIN}]" \
    --add-scram "SCRAM-SHA-512=[name=ingest,password=${EAKTE_KAFKA_PASSWORD_INGEST}]" \
    --add-scram "SCRAM-SHA-512=[name=workflow,password=${EAKTE_KAFKA_PASSWORD_WORKFLOW}]" \
    --add-scram "SCRAM-SHA-512=[name=archive,password=${EAKTE_KAFKA_PASSWORD_ARCHIVE}]" \
    --add-scram "SCRAM-SHA-512=[name=portal,password=${EAKTE_KAFKA_PASSWORD_PORTAL}]"
fi
exec /opt/kafka/bin/kafka-server-start.sh "${CONFIG}"
