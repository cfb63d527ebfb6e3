#!/usr/bin/env bash
# A real one-node SLURM cluster on this machine, for the `slurm` tests (tests/slurm/)
# and for trying the profiles/slurm* profiles by hand. Used by .ci/run and
# `make slurm-up`; stopped by slurm_down.sh.
#
# Debian packages (bookworm: Slurm 22.05), installed with apt when missing; no
# systemd and no cgroups needed: munged, slurmctld and slurmd are started here
# directly and found again through their PID files. Idempotent: with the
# daemons up it only re-checks that a job runs. Needs root.
#
# The node: this machine's name and CPUs, 80% of its memory, one partition
# `debug` (the default), and SLURM_GPUS (default 1) count-only GPUs: a GPU
# GRES without a device behind it, so that the GPU profile's `--gpus=1` is
# scheduled and tested here (jobs see CUDA_VISIBLE_DEVICES but no GPU, and
# torch trains on the CPU). SLURM_GPUS=0: a node without GPUs.
#
# Accounting: none by default, so sacct does not work, as on many small
# clusters; the profiles' `slurm-status-command: squeue` is made for that.
# SLURM_ACCOUNTING=dbd also starts MariaDB and slurmdbd so that sacct works
# (about 15 s more).
set -euo pipefail

ACCT="${SLURM_ACCOUNTING:-none}"
GPUS="${SLURM_GPUS:-1}"
NODE="$(hostname -s)"
CPUS="$(nproc)"
MEM_MB="$(awk '/MemTotal/ {print int($2/1024*0.8)}' /proc/meminfo)"  # must be <= real, else node INVAL
LOG=/var/log/slurm
log() { echo "[slurm_up] $*"; }
alive() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

# 1. packages (policy-rc.d on this machine blocks the postinst auto-start; that's fine)
PKGS="slurmctld slurmd slurm-client munge"
[ "$ACCT" = dbd ] && PKGS="$PKGS slurmdbd mariadb-server"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
  log "installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends $missing >/dev/null
fi

# 2. munge: key (postinst creates one), runtime dir; run as user munge
#    (as root it refuses: "Logfile is insecure: invalid ownership of /var/log/munge")
[ -s /etc/munge/munge.key ] || dd if=/dev/urandom of=/etc/munge/munge.key bs=1024 count=1 status=none
chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
install -d -o munge -g munge -m 0755 /run/munge
install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
  log "starting munged"
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
fi
munge -n | unmunge >/dev/null

# 3. slurm.conf + spool/log dirs
install -d -o slurm -g slurm -m 0755 /var/spool/slurmctld "$LOG"
install -d -m 0755 /var/spool/slurmd
if [ "$ACCT" = dbd ]; then
  ACCT_LINES="AccountingStorageType=accounting_storage/slurmdbd
AccountingStorageHost=localhost"
else
  ACCT_LINES="AccountingStorageType=accounting_storage/none"
fi
# count-only GPUs: gres.conf points them at /dev/null (slurmd needs a File for a gpu GRES)
if [ "$GPUS" -gt 0 ]; then
  GRES_TYPES="GresTypes=gpu"; NODE_GRES="Gres=gpu:$GPUS"
  : > /etc/slurm/gres.conf
  echo "AutoDetect=off" >> /etc/slurm/gres.conf
  for _ in $(seq "$GPUS"); do echo "NodeName=$NODE Name=gpu File=/dev/null" >> /etc/slurm/gres.conf; done
else
  GRES_TYPES="# no GPUs (SLURM_GPUS=0)"; NODE_GRES=""
  rm -f /etc/slurm/gres.conf
fi
cat > /etc/slurm/slurm.conf <<CONF
ClusterName=ci
SlurmctldHost=localhost
SlurmUser=slurm
AuthType=auth/munge
StateSaveLocation=/var/spool/slurmctld
SlurmdSpoolDir=/var/spool/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOG/slurmctld.log
SlurmdLogFile=$LOG/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
SchedulerType=sched/backfill
$ACCT_LINES
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
# finished jobs stay visible to squeue 10 min (plugin wants >= 3x its status poll interval)
MinJobAge=600
$GRES_TYPES
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB $NODE_GRES State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP
CONF

# 3b. optional accounting: MariaDB (does not daemonize itself -> setsid &) + slurmdbd
if [ "$ACCT" = dbd ]; then
  install -d -o mysql -g root -m 0755 /run/mysqld
  if ! alive /run/mysqld/mysqld.pid; then
    log "starting mariadbd"
    setsid /usr/sbin/mariadbd --user=mysql --bind-address=127.0.0.1 \
      --pid-file=/run/mysqld/mysqld.pid --log-error=/var/log/mysql/error.log \
      </dev/null >/dev/null 2>&1 &
  fi
  for _ in $(seq 120); do mariadb -e 'select 1' >/dev/null 2>&1 && break; sleep 0.5; done
  mariadb -e "CREATE DATABASE IF NOT EXISTS slurm_acct_db;
    CREATE OR REPLACE USER 'slurm'@'localhost' IDENTIFIED BY 'slurmci';
    GRANT ALL ON slurm_acct_db.* TO 'slurm'@'localhost';"
  cat > /etc/slurm/slurmdbd.conf <<CONF
AuthType=auth/munge
DbdHost=localhost
SlurmUser=slurm
LogFile=$LOG/slurmdbd.log
PidFile=/run/slurmdbd.pid
StorageType=accounting_storage/mysql
StorageHost=localhost
StorageUser=slurm
StoragePass=slurmci
StorageLoc=slurm_acct_db
CONF
  chown slurm:slurm /etc/slurm/slurmdbd.conf && chmod 0600 /etc/slurm/slurmdbd.conf
  if ! alive /run/slurmdbd.pid; then log "starting slurmdbd"; /usr/sbin/slurmdbd; fi
  for _ in $(seq 60); do sacctmgr -n list cluster >/dev/null 2>&1 && break; sleep 0.5; done
  sacctmgr -n -P list cluster format=cluster | grep -qx ci || sacctmgr -i add cluster ci >/dev/null
fi

# 4. controller + node daemon (both daemonize; -c = discard old job state)
if ! alive /run/slurmctld.pid; then log "starting slurmctld"; /usr/sbin/slurmctld -c; fi
if ! alive /run/slurmd.pid;    then log "starting slurmd";    /usr/sbin/slurmd; fi

# 5. wait until the node is idle (resume it if it registered down/drained)
for _ in $(seq 60); do
  state="$(sinfo -h -n "$NODE" -o %T 2>/dev/null || true)"
  case "$state" in
    idle|mixed|allocated) break ;;
    down*|drain*|inval*) scontrol update NodeName="$NODE" State=RESUME 2>/dev/null || true ;;
  esac
  sleep 1
done
sinfo
case "$(sinfo -h -n "$NODE" -o %T)" in
  idle|mixed|allocated) ;;
  *) tail -n 20 "$LOG"/slurmctld.log "$LOG"/slurmd.log; exit 1 ;;
esac
srun -t 1 -N1 -n1 true
log "ready: node=$NODE cpus=$CPUS mem=${MEM_MB}MB gpus=$GPUS partition=debug accounting=$ACCT"
