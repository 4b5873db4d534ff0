#!/usr/bin/env bash
# No upstream counterpart: runs the sbatch templates of scripts/slurm on a real single-node Slurm cluster started
# here on localhost (munged, slurmctld, slurmd; a scratch config, ../../shared/docs/PLATFORM.md §11) over the
# demo's faces and untrained models: a 3-task index build array, the index merge, a 3-task inversion array and the
# latent merge (submit.sh, --dependency=afterok). Checks the result equals one machine's `index build` +
# `index invert`, bit for bit. Always stops the daemons it started. Exit 77: skipped (Slurm not installed, not root).
# Usage: scripts/slurm/test-local-cluster.sh [VOICESTYLE_BINARY]     (called by the Swift test SlurmTests)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
exe="$(realpath "${1:-$repo/.build/release/voicestyle}")"

skip() { echo "skipped: $*"; exit 77; }
for tool in munged slurmctld slurmd sbatch squeue scontrol python3; do
  command -v "$tool" >/dev/null || [ -x "/usr/sbin/$tool" ] || skip "$tool is not installed (scripts/setup installs slurm-wlm and munge)"
done
[ "$(id -u)" -eq 0 ] || skip "a local Slurm cluster needs root (slurmd runs jobs as their user)"
id munge >/dev/null 2>&1 || skip "no munge user (install the munge package)"
[ -x "$exe" ] || { echo "error: no voicestyle binary at $exe" >&2; exit 1; }
export PATH="$PATH:/usr/sbin"

scratch="$(mktemp -d /tmp/vs-slurm-XXXXXX)"
chmod 755 "$scratch"
pids=()
ids=""
cleanup() {
  # Jobs still running (a timeout) first, then only the daemons this script started, by their pid files' PIDs.
  # shellcheck disable=SC2086
  [ -z "$ids" ] || { scancel ${ids//,/ } 2>/dev/null || true; sleep 1; }
  for f in "$scratch/slurmd.pid" "$scratch/slurmctld.pid" "$scratch/munge-run/munged.pid"; do
    [ -s "$f" ] && kill "$(cat "$f")" 2>/dev/null || true
  done
  sleep 1
  for f in "$scratch/slurmd.pid" "$scratch/slurmctld.pid" "$scratch/munge-run/munged.pid"; do
    [ -s "$f" ] && kill -9 "$(cat "$f")" 2>/dev/null || true
  done
  [ -n "${KEEP_SCRATCH:-}" ] || rm -rf "$scratch"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# munge: its own key (a folder only munge reads), socket, pid and log (a folder all may enter) in the scratch
# folder; a system munged, if any, is left alone.
mkdir -p "$scratch/munge" "$scratch/munge-run"
dd if=/dev/urandom of="$scratch/munge/munge.key" bs=1024 count=1 status=none
chown -R munge:munge "$scratch/munge" "$scratch/munge-run"
chmod 700 "$scratch/munge"
chmod 755 "$scratch/munge-run"
chmod 400 "$scratch/munge/munge.key"
socket="$scratch/munge-run/munge.socket"
runuser -u munge -- munged --key-file="$scratch/munge/munge.key" --socket="$socket" --pid-file="$scratch/munge-run/munged.pid" \
  --log-file="$scratch/munge-run/munged.log" --seed-file="$scratch/munge/munged.seed"

# Slurm: every path in the scratch folder, ports of our own.
host="$(hostname -s)"
port=$((20000 + RANDOM % 20000))
export SLURM_CONF="$scratch/slurm.conf"
cat > "$SLURM_CONF" <<EOF
ClusterName=vstest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$socket
StateSaveLocation=$scratch/state
SlurmdSpoolDir=$scratch/spool
SlurmctldPidFile=$scratch/slurmctld.pid
SlurmdPidFile=$scratch/slurmd.pid
SlurmctldLogFile=$scratch/slurmctld.log
SlurmdLogFile=$scratch/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MpiDefault=none
NodeName=$host NodeAddr=127.0.0.1 CPUs=$(nproc) RealMemory=2048 State=UNKNOWN
PartitionName=main Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
mkdir -p "$scratch/state" "$scratch/spool"
slurmctld -f "$SLURM_CONF"
slurmd -f "$SLURM_CONF"
for _ in $(seq 1 30); do
  sinfo -h -o %T 2>/dev/null | grep -q idle && break
  sleep 1
done
sinfo -h -o %T | grep -q idle || { echo "error: the local Slurm node did not come up" >&2; cat "$scratch"/*.log >&2; exit 1; }
echo "local Slurm cluster up (port $port)"

if [ -n "${SMOKE_ONLY:-}" ]; then
  id=$(sbatch --parsable --array=0-2 --wrap 'echo task $SLURM_ARRAY_TASK_ID of $SLURM_ARRAY_TASK_COUNT' --output="$scratch/smoke-%a.out")
  for _ in $(seq 1 30); do [ -z "$(squeue -h -j "$id" 2>/dev/null)" ] && break; sleep 1; done
  cat "$scratch"/smoke-*.out
  exit 0
fi

# Material: 4 identities of the demo's bundled faces; the demo's untrained models (the CLI's demo:… names).
faces="$scratch/faces"
mkdir -p "$faces"
for id in Freida_Pinto Garrett_Hedlund Julia_Stiles Jeremy_Irvine; do cp -r "$repo/Sources/VoiceStylePipeline/DemoData/faces/$id" "$faces/"; done
build_args="--cmpc demo:cmpc --clusters 3"
invert_args="--generator demo:generator --vgg demo:lpips --id-model demo:irse50 --steps ${INVERT_STEPS:-3}"  # INVERT_STEPS: for timing runs

# One machine: the reference, with the threads a task of the cluster gets (1 core each below): BLAS and the
# engine's reductions round alike only with the same thread counts.
export VOICESTYLE_THREADS=1 OPENBLAS_NUM_THREADS=1
start=$EPOCHREALTIME
# shellcheck disable=SC2086
"$exe" index build "$scratch/single" --faces "$faces" --quiet $build_args >/dev/null
# shellcheck disable=SC2086
"$exe" index invert "$scratch/single" --quiet $invert_args >/dev/null
single_s=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')

# The cluster: submit.sh's four jobs, 3 tasks per array.
start=$EPOCHREALTIME
jobs=$(VOICESTYLE="$exe" BUILD_ARGS="$build_args" INVERT_ARGS="$invert_args" SBATCH_OPTS="--cpus-per-task=1 --mem=256M --time=10" \
  LOGS="$scratch/logs" "$here/submit.sh" "$scratch/cluster" "$faces" 3)
echo "submitted: $jobs"
ids=$(echo "$jobs" | awk '{print $2","$4","$6","$8}')
last=$(echo "$jobs" | awk '{print $8}')
limit=${WAIT_LIMIT:-180}  # seconds; ~17 s on a quiet 2-core machine, more while other tests run
while [ -n "$(squeue -h -j "$ids" 2>/dev/null)" ] && awk -v a="$start" -v b="$EPOCHREALTIME" -v l="$limit" 'BEGIN { exit !(b - a < l) }'; do
  sleep 0.3
done
cluster_s=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { print b - a }')
state=$(scontrol show job "$last" 2>/dev/null | grep -o 'JobState=[A-Z_]*' | head -1)
if [ "$state" != "JobState=COMPLETED" ]; then
  echo "error: the latent merge job $last ended as ${state:-unknown} (or did not end within $limit s); job logs:" >&2
  tail -n 20 "$scratch"/logs/* >&2 || true
  squeue >&2 || true
  exit 1
fi

# Equal to the one machine's index, every column but the row id, bit for bit.
python3 - "$scratch/single/prototypes.sqlite" "$scratch/cluster/prototypes.sqlite" <<'PY'
import sqlite3, sys
def rows(path):
    db = sqlite3.connect(path)
    cols = [c[1] for c in db.execute("PRAGMA table_info(prototypes)") if c[1] != "id"]
    return cols, db.execute(f"SELECT {', '.join(cols)} FROM prototypes ORDER BY path").fetchall()
(cols, a), (_, b) = rows(sys.argv[1]), rows(sys.argv[2])
latent = cols.index("latent")
assert len(a) == 16, f"{len(a)} prototypes on one machine, expected 16"
assert all(r[latent] is not None for r in b), "a prototype of the cluster's index has no latent"
for x, y in zip(a, b):
    for c, u, v in zip(cols, x, y):
        assert u == v, f"{x[0]}: column {c} differs between one machine and the cluster"
assert len(a) == len(b), f"{len(a)} prototypes on one machine, {len(b)} on the cluster"
print(f"equal: {len(a)} prototypes (embeddings, clusters, latents, noise maps, metrics) on one machine and on the cluster")
PY
printf 'wall time: one machine %.1f s (build + invert); cluster %.1f s (submit to the last job done: 3-task build array, merge, 3-task inversion array, latent merge)\n' "$single_s" "$cluster_s"
