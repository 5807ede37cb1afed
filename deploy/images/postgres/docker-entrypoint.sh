#!/usr/bin/env bash
# porto-postgres's entrypoint: the official `postgres` image's environment contract, for
# Debian's PostgreSQL 15, run as the non-root `postgres` user (never root: no user switch).
#
#   docker-entrypoint.sh [postgres] [SERVER ARGS...]   initialise PGDATA if empty, then serve
#   docker-entrypoint.sh COMMAND...                     run COMMAND (psql, bash, ...)
#
# First start (PGDATA has no PG_VERSION): initdb with POSTGRES_USER (default postgres) as the
# superuser and POSTGRES_PASSWORD as its password (required, unless
# POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_INITDB_ARGS and POSTGRES_INITDB_WALDIR; then, on a
# server listening on the socket only, create POSTGRES_DB (default: the user's name) and run
# /docker-entrypoint-initdb.d/* in name order (*.sh executed, or sourced when not executable;
# *.sql and *.sql.gz through psql into POSTGRES_DB). Later starts find PG_VERSION and only serve.
# Every POSTGRES_* value can come from a file instead: POSTGRES_PASSWORD_FILE=/run/secrets/...
#
# Connections: over the socket, trusted (only processes in the container reach it); over TCP,
# from any address, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256, the password).
#
# Stopping: SIGTERM and SIGINT both make a fast shutdown (sessions are ended, the data is
# checkpointed, exit 0). PostgreSQL's own SIGTERM is a "smart" shutdown that waits for every
# client to leave, which a connection pool never does before Kubernetes' grace period ends in
# SIGKILL; so this script stays as PID 1 and forwards SIGTERM as SIGINT (SIGQUIT and SIGHUP
# as they are).
set -Eeuo pipefail

INITDB_D=/docker-entrypoint-initdb.d
# Present while the first initialisation runs: a failed one leaves it, and the next start refuses
# to serve a half-initialised database (the official image would serve it).
INIT_MARKER=.porto-init-incomplete

log() { echo "docker-entrypoint: $*"; }
fail() { echo "docker-entrypoint: error: $*" >&2; exit 1; }

# file_env VAR [DEFAULT]: export VAR from itself, or from the file VAR_FILE names, or DEFAULT.
file_env() {
  local var=$1 default=${2:-} file_var="$1_FILE"
  if [ -n "${!var:-}" ] && [ -n "${!file_var:-}" ]; then
    fail "both $var and $file_var are set: give one"
  fi
  local value=$default
  if [ -n "${!var:-}" ]; then
    value=${!var}
  elif [ -n "${!file_var:-}" ]; then
    [ -r "${!file_var}" ] || fail "$file_var=${!file_var} is not a readable file"
    value=$(<"${!file_var}")
  fi
  export "$var=$value"
  unset "$file_var"
}

# psql_run [PSQL ARGS...]: psql as the superuser over the socket, stopping at the first error.
psql_run() {
  psql -v ON_ERROR_STOP=1 --no-psqlrc --no-password --username "$POSTGRES_USER" "$@"
}

init_database() {
  if [ -z "$POSTGRES_PASSWORD" ] && [ "$POSTGRES_HOST_AUTH_METHOD" != trust ]; then
    fail "the database is not initialised and POSTGRES_PASSWORD is not set: set POSTGRES_PASSWORD (or POSTGRES_PASSWORD_FILE) to the password of superuser '$POSTGRES_USER', or POSTGRES_HOST_AUTH_METHOD=trust to let anyone connect without one (never outside a test)"
  fi
  if [ "$POSTGRES_HOST_AUTH_METHOD" = trust ]; then
    log "warning: POSTGRES_HOST_AUTH_METHOD=trust: every TCP client connects as any user with no password"
  fi
  # initdb refuses a non-empty directory with a clear message (e.g. a volume's lost+found).
  local args=(--username="$POSTGRES_USER" --auth-local=trust --auth-host="$POSTGRES_HOST_AUTH_METHOD")
  [ -z "${POSTGRES_INITDB_WALDIR:-}" ] || args+=(--waldir="$POSTGRES_INITDB_WALDIR")
  log "initialising $PGDATA (superuser '$POSTGRES_USER', database '$POSTGRES_DB')"
  if [ -n "$POSTGRES_PASSWORD" ]; then
    # POSTGRES_INITDB_ARGS is a word list, as in the official image.
    # shellcheck disable=SC2086
    initdb "${args[@]}" --pwfile=<(printf '%s\n' "$POSTGRES_PASSWORD") $POSTGRES_INITDB_ARGS
  else
    # shellcheck disable=SC2086
    initdb "${args[@]}" $POSTGRES_INITDB_ARGS
  fi
  : >"$PGDATA/$INIT_MARKER"
  printf '\n# From anywhere over TCP (docker-entrypoint.sh, POSTGRES_HOST_AUTH_METHOD)\nhost all all all %s\n' \
    "$POSTGRES_HOST_AUTH_METHOD" >>"$PGDATA/pg_hba.conf"

  # A server on the socket only, so no client sees the database before the scripts ran.
  export PGUSER=$POSTGRES_USER PGPASSWORD=$POSTGRES_PASSWORD
  pg_ctl --pgdata="$PGDATA" --wait --silent --options="-c listen_addresses=''" start
  psql_run --dbname postgres --set db="$POSTGRES_DB" <<'SQL'
SELECT format('CREATE DATABASE %I', :'db')
 WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = :'db')\gexec
SQL
  local f
  for f in "$INITDB_D"/*; do
    [ -e "$f" ] || continue
    case "$f" in
      *.sh)
        if [ -x "$f" ]; then
          log "running $f"; "$f"
        else
          log "sourcing $f"
          # shellcheck disable=SC1090
          . "$f"
        fi
        ;;
      *.sql) log "running $f"; psql_run --dbname "$POSTGRES_DB" --file "$f" ;;
      *.sql.gz) log "running $f"; gzip -dc "$f" | psql_run --dbname "$POSTGRES_DB" ;;
      *) log "ignoring $f (not *.sh, *.sql or *.sql.gz)" ;;
    esac
  done
  pg_ctl --pgdata="$PGDATA" --wait --silent --mode=fast stop
  unset PGUSER PGPASSWORD
  rm -f "$PGDATA/$INIT_MARKER"
  log "initialisation done; starting the server"
}

# Forwarded signals (see the header): the server's pid once it runs.
server_pid=""
forward() { [ -z "$server_pid" ] || kill "-$1" "$server_pid" 2>/dev/null || true; }

if [ "${1:0:1}" = - ]; then
  set -- postgres "$@"
fi
if [ "$1" != postgres ]; then
  exec "$@"
fi
shift

[ "$(id -u)" -ne 0 ] || fail "PostgreSQL does not run as root: run as the postgres user (uid 999, the image's USER; Kubernetes: runAsUser: 999)"
file_env POSTGRES_USER postgres
file_env POSTGRES_PASSWORD
file_env POSTGRES_DB "$POSTGRES_USER"
file_env POSTGRES_INITDB_ARGS
: "${POSTGRES_HOST_AUTH_METHOD:=scram-sha-256}"
export PGDATA=${PGDATA:-/var/lib/postgresql/data}

mkdir -p "$PGDATA" 2>/dev/null || fail "cannot create PGDATA=$PGDATA as uid $(id -u): mount a volume writable by it there (Kubernetes: fsGroup: 999)"
[ -O "$PGDATA" ] || fail "PGDATA=$PGDATA belongs to uid $(stat -c %u "$PGDATA"), not to $(id -u) that runs PostgreSQL: PostgreSQL needs to own it (Kubernetes: fsGroup and a subdirectory of the volume as PGDATA)"
chmod 0700 "$PGDATA" 2>/dev/null || true
if [ -e "$PGDATA/$INIT_MARKER" ]; then
  fail "an earlier first initialisation of $PGDATA failed (see its log): empty PGDATA (remove the volume) to initialise it again"
fi
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  trap 'echo "docker-entrypoint: error: initialising $PGDATA failed (above); empty it before the next try" >&2' ERR
  init_database
  trap - ERR
else
  log "$PGDATA holds a database (PostgreSQL $(<"$PGDATA/PG_VERSION")): no initialisation"
fi

trap 'forward INT' TERM INT
trap 'forward QUIT' QUIT
trap 'forward HUP' HUP
postgres "$@" &
server_pid=$!
# `wait` returns early when a trapped signal arrives: wait again until the server is gone, then
# take its exit status.
while kill -0 "$server_pid" 2>/dev/null; do
  wait "$server_pid" || true
done
status=0
wait "$server_pid" || status=$?
exit "$status"
