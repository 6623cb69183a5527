#!/usr/bin/env bash
# Start the PostgreSQL that Debian provides (installing it when missing) and create the test
# role and database. Idempotent; prints the URI the tests should use.
set -euo pipefail

PG_USER=slipway
PG_PASSWORD=slipway
PG_DB=slipway_test
PG_PORT=${SLIPWAY_PG_PORT:-5432}
as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

if ! command -v pg_lsclusters >/dev/null 2>&1 || [ -z "$(pg_lsclusters -h 2>/dev/null)" ]; then
    echo "postgres-up: installing PostgreSQL from Debian" >&2
    as_root apt-get update -qq >&2
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq postgresql >&2
fi

read -r version cluster port status _ < <(pg_lsclusters -h | head -n 1)
if [ "$status" != "online" ]; then
    as_root pg_ctlcluster "$version" "$cluster" start >&2
fi
PG_PORT=$port

psql_admin() { as_root su postgres -c "psql -p $PG_PORT -v ON_ERROR_STOP=1 -qtAX $*"; }
for _ in $(seq 1 30); do psql_admin "-c 'select 1'" >/dev/null 2>&1 && break; sleep 1; done
if [ "$(psql_admin "-c \"select 1 from pg_roles where rolname='$PG_USER'\"")" != "1" ]; then
    psql_admin "-c \"create role $PG_USER login createdb password '$PG_PASSWORD'\"" >&2
fi
if [ "$(psql_admin "-c \"select 1 from pg_database where datname='$PG_DB'\"")" != "1" ]; then
    psql_admin "-c \"create database $PG_DB owner $PG_USER\"" >&2
fi
echo "postgresql+psycopg://$PG_USER:$PG_PASSWORD@127.0.0.1:$PG_PORT/$PG_DB"
