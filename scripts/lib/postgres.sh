# Starts a throwaway PostgreSQL server for tests and exports PAIRPAD_TEST_POSTGRES_URL.
# Sourced by scripts/test. Installs Debian's postgresql package when it is missing.
# The server lives in a temporary directory and is stopped by stop_test_postgres.

pg_bindir() {
    ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

ensure_postgres_installed() {
    if [ -n "$(pg_bindir)" ] && [ -x "$(pg_bindir)/initdb" ]; then
        return 0
    fi
    if [ "$(id -u)" -ne 0 ]; then
        echo "PostgreSQL is not installed; run: sudo apt-get install -y postgresql" >&2
        return 1
    fi
    echo "installing PostgreSQL (Debian package postgresql)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
}

# Runs a command as the user that owns the cluster (postgres when we are root).
as_pg_user() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_test_postgres() {
    ensure_postgres_installed || return 1
    local bin port
    bin="$(pg_bindir)"
    PAIRPAD_PG_DIR="$(mktemp -d /tmp/pairpad-pg.XXXXXX)"
    if [ "$(id -u)" -eq 0 ]; then chown postgres: "$PAIRPAD_PG_DIR"; fi
    port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
    as_pg_user "$bin/initdb" -D "$PAIRPAD_PG_DIR/data" -U pairpad --auth=trust -E UTF8 >/dev/null
    # The options are exported so that a test can stop this server and start it again.
    PAIRPAD_PG_OPTS="-p $port -k $PAIRPAD_PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=200"
    as_pg_user "$bin/pg_ctl" -D "$PAIRPAD_PG_DIR/data" -l "$PAIRPAD_PG_DIR/server.log" -w \
        -o "$PAIRPAD_PG_OPTS" start >/dev/null
    export PAIRPAD_PG_BIN="$bin" PAIRPAD_PG_DIR PAIRPAD_PG_OPTS
    export PAIRPAD_TEST_POSTGRES_URL="postgres://pairpad@127.0.0.1:$port/postgres"
    echo "PostgreSQL $("$bin/postgres" --version | awk '{print $3}') for tests on 127.0.0.1:$port"
}

stop_test_postgres() {
    if [ -n "${PAIRPAD_PG_DIR:-}" ] && [ -d "$PAIRPAD_PG_DIR/data" ]; then
        as_pg_user "$PAIRPAD_PG_BIN/pg_ctl" -D "$PAIRPAD_PG_DIR/data" -m fast -w stop >/dev/null 2>&1 || true
        rm -rf "$PAIRPAD_PG_DIR"
    fi
}
