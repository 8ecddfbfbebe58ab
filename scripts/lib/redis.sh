# Makes Debian's redis-server available to the tests (which start and stop their own on
# free ports) and exports PAIRPAD_REDIS_SERVER. Sourced by scripts/test.

ensure_redis_installed() {
    if ! command -v redis-server >/dev/null; then
        if [ "$(id -u)" -ne 0 ]; then
            echo "redis-server is not installed; run: sudo apt-get install -y redis-server" >&2
            return 1
        fi
        echo "installing Redis (Debian package redis-server)"
        apt-get update -qq
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends redis-server >/dev/null
    fi
    PAIRPAD_REDIS_SERVER="$(command -v redis-server)"
    export PAIRPAD_REDIS_SERVER
    echo "$("$PAIRPAD_REDIS_SERVER" --version | awk '{print $1, $3}') for tests"
}
