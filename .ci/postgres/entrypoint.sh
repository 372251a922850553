#!/bin/sh
# On an empty data directory: initdb with POSTGRES_USER as the superuser and POSTGRES_PASSWORD as its
# password (scram-sha-256 over TCP, trust on the socket inside the container), and POSTGRES_DB made.
# Then PostgreSQL on every interface, in the foreground.
set -eu
user=${POSTGRES_USER:-postgres}
db=${POSTGRES_DB:-$user}
if [ ! -s "$PGDATA/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "POSTGRES_PASSWORD is not set: no database is made without a password" >&2
        exit 1
    fi
    pwfile=$(mktemp)
    printf '%s\n' "$POSTGRES_PASSWORD" >"$pwfile"
    initdb --username="$user" --pwfile="$pwfile" --auth-local=trust --auth-host=scram-sha-256 \
        --encoding=UTF8 --locale=C.UTF-8 -D "$PGDATA" >/dev/null
    rm -f "$pwfile"
    echo "host all all all scram-sha-256" >>"$PGDATA/pg_hba.conf"
    if [ "$db" != postgres ]; then
        # A server for createdb alone, on a socket of its own: pg_isready (the health check) must not
        # see it and call the database ready before the real server starts.
        socket=$(mktemp -d)
        pg_ctl -D "$PGDATA" -w -o "-c listen_addresses='' -c unix_socket_directories=$socket" start >/dev/null
        createdb --host="$socket" --username="$user" --owner="$user" "$db"
        pg_ctl -D "$PGDATA" -w -m fast stop >/dev/null
        rmdir "$socket"
    fi
    echo "initialised $PGDATA: user $user, database $db"
fi
exec postgres -D "$PGDATA" -c listen_addresses='*'
