#!/bin/sh
# Entrypoint of the porto inference image.
#
# `porto-inference serve` itself empties PORTO_INFERENCE_METRICS_DIR and points
# PROMETHEUS_MULTIPROC_DIR at it before gunicorn forks (server.py), and gunicorn's child_exit hook
# marks dead workers. This script only makes sure that directory can be used on a read-only root
# filesystem, and fails with a clear message instead of a traceback when it cannot:
#   - PROMETHEUS_MULTIPROC_DIR (the name prometheus_client documents) is accepted as the metrics
#     directory when PORTO_INFERENCE_METRICS_DIR is unset; both set and different is an error,
#     since `serve` would silently override one of them.
#   - the directory is created if missing and must be writable (mount an emptyDir there).
# porto-inference's subcommands (and bare options, which belong to `serve`) go to porto-inference;
# any other command runs as given (`docker run IMAGE sh`).
set -eu

die() {
    echo "docker-entrypoint: $*" >&2
    exit 1
}

prepare_metrics_dir() {
    if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
        if [ -z "${PORTO_INFERENCE_METRICS_DIR:-}" ]; then
            PORTO_INFERENCE_METRICS_DIR=$PROMETHEUS_MULTIPROC_DIR
            export PORTO_INFERENCE_METRICS_DIR
        elif [ "$PROMETHEUS_MULTIPROC_DIR" != "$PORTO_INFERENCE_METRICS_DIR" ]; then
            die "PROMETHEUS_MULTIPROC_DIR=$PROMETHEUS_MULTIPROC_DIR and" \
                "PORTO_INFERENCE_METRICS_DIR=$PORTO_INFERENCE_METRICS_DIR differ; set one of them"
        fi
    fi
    dir=${PORTO_INFERENCE_METRICS_DIR:-}
    # Unset: `serve` makes a fresh temporary directory, which needs a writable TMPDIR.
    [ -n "$dir" ] || dir=${TMPDIR:-/tmp}
    mkdir -p "$dir" 2>/dev/null || die "cannot create metrics directory $dir (read-only root" \
        "filesystem? mount a writable volume, e.g. an emptyDir, there)"
    [ -w "$dir" ] || die "metrics directory $dir is not writable by uid $(id -u) (mount a" \
        "writable volume, e.g. an emptyDir, there)"
}

# No arguments, or options only (`--workers 2`): they are options of `serve`.
if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then
    set -- serve "$@"
fi
case "$1" in
    serve)
        prepare_metrics_dir
        exec porto-inference "$@"
        ;;
    migrate | log-export | replay | report | check | env)
        exec porto-inference "$@"
        ;;
    *)
        exec "$@"
        ;;
esac
