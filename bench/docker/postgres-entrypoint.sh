#!/bin/sh
# First start: a cluster whose superuser is POSTGRES_USER (password POSTGRES_PASSWORD), reachable over the network
# with that password, and the database POSTGRES_DB. Then postgres in the foreground.
set -eu
user=${POSTGRES_USER:-postgres}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  printf '%s\n' "${POSTGRES_PASSWORD:?POSTGRES_PASSWORD is required}" > /tmp/pwfile
  initdb -D "$PGDATA" -U "$user" --encoding=UTF8 --locale=C.UTF-8 --pwfile=/tmp/pwfile --auth-local=trust --auth-host=scram-sha-256 >/dev/null
  rm /tmp/pwfile
  echo "host all all 0.0.0.0/0 scram-sha-256" >> "$PGDATA/pg_hba.conf"
  postgres -D "$PGDATA" -c listen_addresses='' &
  until pg_isready -q -U "$user" -d postgres; do sleep 0.2; done
  if [ "${POSTGRES_DB:-$user}" != postgres ]; then
    psql -q -U "$user" -d postgres -c "CREATE DATABASE \"${POSTGRES_DB:-$user}\""
  fi
  kill -INT $! && wait $! || true
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
