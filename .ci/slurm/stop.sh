#!/usr/bin/env bash
# Stop the single-node SLURM cluster of .ci/slurm/start.sh: cancel its jobs, then stop slurmd,
# slurmctld and munged by the pids they wrote under $DISTILDOC_SLURM_DIR. Idempotent (a stopped or
# never-started cluster is fine); the directory is kept for its logs (start.sh starts afresh).
set -uo pipefail

DIR="${DISTILDOC_SLURM_DIR:-/tmp/distildoc-slurm}"
export SLURM_CONF="$DIR/etc/slurm.conf"

alive() { [ -f "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# jobs first: with proctrack/linuxproc, stopping slurmd would leave their processes running
if alive "$DIR/run/slurmctld.pid" && command -v squeue >/dev/null; then
    jobs="$(squeue -h -o %i 2>/dev/null || true)"
    if [ -n "$jobs" ]; then
        # shellcheck disable=SC2086
        scancel $jobs 2>/dev/null || true
        for _ in $(seq 1 40); do
            [ -z "$(squeue -h -t running,completing,pending -o %i 2>/dev/null)" ] && break
            sleep 0.25
        done
    fi
fi

for daemon in slurmd slurmctld munged; do
    pidfile="$DIR/run/$daemon.pid"
    alive "$pidfile" || continue
    pid="$(cat "$pidfile")"
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.25
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    rm -f "$pidfile"
done
echo "stop.sh: cluster stopped"
