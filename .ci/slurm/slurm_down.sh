#!/usr/bin/env bash
# Stop the local SLURM cluster that slurm_up.sh (beside this file) started: cancel
# this user's jobs, then stop slurmd, slurmctld, slurmdbd, MariaDB and munged by
# their PID files only (nothing else is touched); the packages stay installed.
# PURGE=1 also wipes job state and the slurm logs.
set -u
command -v scancel >/dev/null && scancel --user="$(id -un)" 2>/dev/null || true
stop() {  # $1 = pid file
  [ -s "$1" ] || return 0
  local pid; pid="$(cat "$1")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid"
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid"
  fi
  rm -f "$1"
}
stop /run/slurmd.pid
stop /run/slurmctld.pid
stop /run/slurmdbd.pid
stop /run/mysqld/mysqld.pid
stop /run/munge/munged.pid
if [ "${PURGE:-0}" = 1 ]; then
  rm -rf /var/spool/slurmctld/* /var/spool/slurmd/* /var/log/slurm/*
fi
echo "[slurm_down] stopped"
