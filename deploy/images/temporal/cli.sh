#!/bin/sh
# The temporal CLI as the stack's operator: with TEMPORAL_TLS_DIR (the `tls` volume) it presents the operator's
# certificate (zansoc-operator:admin) over mTLS; without it, a plaintext connection.
#   zansoc-temporal-cli workflow list --address temporal:7233
if [ -n "${TEMPORAL_TLS_DIR:-}" ]; then
  exec temporal "$@" --tls-ca-path "$TEMPORAL_TLS_DIR/ca.pem" --tls-cert-path "$TEMPORAL_TLS_DIR/operator.pem" \
    --tls-key-path "$TEMPORAL_TLS_DIR/operator.key" --tls-server-name localhost
fi
exec temporal "$@"
