#!/bin/sh
# Runs Zansoc's Temporal server on PostgreSQL: creates the `temporal` and `temporal_visibility` databases unless they
# exist, brings both schemas to this server's version with temporal-sql-tool (a no-op when they are), writes the
# config from the environment, and runs all four services in this process.
#   POSTGRES_HOST, POSTGRES_PORT, POSTGRES_USER, POSTGRES_PASSWORD   the database server
#   TEMPORAL_PORT          frontend gRPC (7233); history, matching and worker take the next three ports, the frontend's
#                          HTTP API the fourth, and membership TEMPORAL_PORT+10 … +13 (kept below 32768: the schema
#                          stores membership ports as SMALLINT)
#   TEMPORAL_BIND_IP       where the services listen (0.0.0.0)
#   TEMPORAL_BROADCAST_ADDRESS   the address the services reach each other on (this container's IP)
#   TEMPORAL_METRICS_ADDRESS     where the server's Prometheus metrics are served (0.0.0.0:8000)
#   TEMPORAL_TLS_DIR       the certificates of runtime/cluster-certificates.ts (docker-compose's `tls` volume): with
#                          it every connection is mTLS, the frontend takes identities from client certificates and
#                          enforces Zansoc's authorizer, and the host CA certifies hosts only; without it, a
#                          development server where every caller is admin
set -eu
: "${POSTGRES_HOST:=postgres}" "${POSTGRES_PORT:=5432}" "${POSTGRES_USER:?set POSTGRES_USER}" "${POSTGRES_PASSWORD:?set POSTGRES_PASSWORD}"
: "${TEMPORAL_PORT:=7233}" "${TEMPORAL_BIND_IP:=0.0.0.0}" "${TEMPORAL_METRICS_ADDRESS:=0.0.0.0:8000}"
: "${TEMPORAL_BROADCAST_ADDRESS:=$(hostname -i | cut -d' ' -f1)}"
schemas=/usr/share/temporal/schema/postgresql/v12
export SQL_PASSWORD="$POSTGRES_PASSWORD"
for pair in temporal:temporal temporal_visibility:visibility; do
  db=${pair%%:*} schema=${pair##*:}
  set -- --plugin postgres12 --ep "$POSTGRES_HOST" -p "$POSTGRES_PORT" -u "$POSTGRES_USER" --db "$db"
  temporal-sql-tool "$@" create >/dev/null 2>&1 || echo "database $db exists"
  # The tool logs every statement; its output is shown only when a step fails.
  out=$(temporal-sql-tool "$@" setup-schema -v 0.0 2>&1) || { echo "$out"; exit 1; }
  out=$(temporal-sql-tool "$@" update-schema -d "$schemas/$schema/versioned" 2>&1) || { echo "$out"; exit 1; }
  echo "database $db: schema up to date"
done

dir=$(mktemp -d)
p=$TEMPORAL_PORT
store() {
  cat <<YAML
    $1:
      sql:
        pluginName: postgres12
        databaseName: $2
        connectAddr: "$POSTGRES_HOST:$POSTGRES_PORT"
        connectProtocol: tcp
        user: "$POSTGRES_USER"
        password: "$POSTGRES_PASSWORD"
        maxConns: 20
        maxIdleConns: 20
        maxConnLifetime: 1h
YAML
}
service() {
  cat <<YAML
  $1:
    rpc:
      grpcPort: $2
      membershipPort: $3
      bindOnIP: "$TEMPORAL_BIND_IP"
YAML
}
{
  cat <<YAML
log: { stdout: true, level: warn }
persistence:
  defaultStore: default
  visibilityStore: visibility
  numHistoryShards: 4
  datastores:
YAML
  store default temporal
  store visibility temporal_visibility
  cat <<YAML
global:
  membership: { maxJoinDuration: 30s, broadcastAddress: "$TEMPORAL_BROADCAST_ADDRESS" }
  metrics: { prometheus: { framework: tally, timerType: histogram, listenAddress: "$TEMPORAL_METRICS_ADDRESS" } }
YAML
  if [ -n "${TEMPORAL_TLS_DIR:-}" ]; then
    t=$TEMPORAL_TLS_DIR
    cat <<YAML
  tls:
    internode:
      server: { certFile: $t/internode.pem, keyFile: $t/internode.key, requireClientAuth: true, clientCaFiles: [$t/internode-ca.pem] }
      client: { serverName: localhost, rootCaFiles: [$t/internode-ca.pem] }
    frontend:
      server: { certFile: $t/frontend.pem, keyFile: $t/frontend.key, requireClientAuth: true, clientCaFiles: [$t/ca.pem, $t/host-ca.pem] }
      client: { serverName: localhost, rootCaFiles: [$t/ca.pem] }
    systemWorker:
      certFile: $t/system-worker.pem
      keyFile: $t/system-worker.key
      client: { serverName: localhost, rootCaFiles: [$t/ca.pem] }
YAML
  fi
  echo "services:"
  service frontend "$p" $((p + 10))
  echo "      httpPort: $((p + 4))"
  service history $((p + 1)) $((p + 11))
  service matching $((p + 2)) $((p + 12))
  service worker $((p + 3)) $((p + 13))
  cat <<YAML
clusterMetadata:
  enableGlobalNamespace: false
  failoverVersionIncrement: 10
  masterClusterName: active
  currentClusterName: active
  clusterInformation:
    active: { enabled: true, initialFailoverVersion: 1, rpcName: frontend, rpcAddress: "$TEMPORAL_BROADCAST_ADDRESS:$p" }
dcRedirectionPolicy: { policy: noop }
dynamicConfigClient: { filepath: "$dir/dynamicconfig.yaml", pollInterval: 10s }
YAML
} > "$dir/config.yaml"
# The version check calls out to the internet. Every host holds long polls on its own queue: the default limit of
# 1,200 at once would starve a fleet of a few hundred hosts (FRONTEND_LONG_POLLS in scripts/temporal-cluster.ts).
cat > "$dir/dynamicconfig.yaml" <<YAML
frontend.enableServerVersionCheck: [{ value: false }]
limit.maxIDLength: [{ value: 255 }]
frontend.namespaceCount: [{ value: 20000 }]
YAML
if [ -n "${TEMPORAL_TLS_DIR:-}" ]; then
  set -- --task-token-key-file "$TEMPORAL_TLS_DIR/task-token.key" --host-ca-file "$TEMPORAL_TLS_DIR/host-ca.pem"
else
  set --
fi
exec zansoc-temporal-server --config "$dir/config.yaml" --services frontend,history,matching,worker "$@"
