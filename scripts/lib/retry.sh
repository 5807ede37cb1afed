# shellcheck shell=bash
# retry WHAT CMD...: run CMD up to PORTO_RETRIES times (default 3), waiting 5 s, 10 s, ... between
# tries (PORTO_RETRY_DELAY_S scales it); after the last failure print one line naming WHAT and
# return 1. For the install phase's downloads (registries answer slowly or drop a connection).
retry() {
  local what=$1; shift
  local tries=${PORTO_RETRIES:-3} delay=${PORTO_RETRY_DELAY_S:-5} attempt
  for ((attempt = 1; ; attempt++)); do
    "$@" && return 0
    if ((attempt >= tries)); then
      echo "error: $what failed after $tries attempts (see the messages above)" >&2
      return 1
    fi
    echo "$what failed (attempt $attempt of $tries), retrying in $((attempt * delay)) s" >&2
    sleep $((attempt * delay))
  done
}
