#!/bin/sh
# Creates namespace `default` and the search attributes the project's workflows carry
# (/usr/share/temporal/search-attributes, written from domain/search-attributes.ts at build), waits until a query on
# them answers (a new attribute is usable only once the services reload the namespace), and exits. Run it again at
# will: what exists is kept.
set -eu
: "${TEMPORAL_ADDRESS:=temporal:7233}" "${TEMPORAL_NAMESPACE:=default}"
t() { zansoc-temporal-cli "$@" --address "$TEMPORAL_ADDRESS"; }
until t operator namespace describe --namespace "$TEMPORAL_NAMESPACE" >/dev/null 2>&1; do
  t operator namespace create --namespace "$TEMPORAL_NAMESPACE" --retention 72h >/dev/null 2>&1 || sleep 1
done
query=""
while read -r name type; do
  until t operator search-attribute list --namespace "$TEMPORAL_NAMESPACE" | grep -q "^ *$name "; do
    t operator search-attribute create --namespace "$TEMPORAL_NAMESPACE" --name "$name" --type "$type" >/dev/null 2>&1 || sleep 1
  done
  query="${query:+$query AND }$name = \"none\""
done < /usr/share/temporal/search-attributes
until t workflow list --namespace "$TEMPORAL_NAMESPACE" --query "$query" --limit 1 >/dev/null 2>&1; do sleep 1; done
echo "namespace $TEMPORAL_NAMESPACE is ready with its search attributes"
