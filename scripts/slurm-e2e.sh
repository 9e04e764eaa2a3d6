#!/usr/bin/env bash
# End-to-end test of `inoc run --executor slurm` on a real, single-node Slurm
# cluster on localhost (README "Running on a Slurm cluster").
#
# Installs Debian's slurmctld, slurmd, munge and the Slurm client commands
# when missing (apt-get; run as root), starts munged, slurmctld and slurmd
# by hand with every file (keys, sockets, state, spool, logs, caches) in one
# temporary directory and no systemd, then:
#   1. runs specs/smoke.inoc locally on one cache and through Slurm on
#      another (submitted twice: the second submission must find every job
#      queued or running and submit nothing), and checks that every step's
#      output hash and every report file are byte-identical;
#   2. runs tests/fixtures/slurm/failing.inoc, whose `chats` step fails, and
#      checks that the failure is reported with its diagnostic, that the
#      steps depending on it were cancelled by Slurm and that the step
#      beside it is stored; a re-run resubmits the failed step.
# Everything is torn down on exit (trap).
#
# Usage: scripts/slurm-e2e.sh [INOC_BINARY]   (default: target/release/inoc)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$(pwd)
INOC=${1:-$ROOT/target/release/inoc}
[ -x "$INOC" ] || cargo build --release --quiet
INOC=$(realpath "$INOC")

# slurmd launches jobs as their user, so it runs as root: run this script as
# root (CI's machines and the development containers are).
if [ "$(id -u)" -ne 0 ]; then
  echo "slurm-e2e: run as root (slurmd must be root to launch jobs)" >&2
  exit 1
fi

need=()
command -v slurmctld >/dev/null || need+=(slurmctld)
command -v slurmd >/dev/null || need+=(slurmd)
command -v munged >/dev/null || need+=(munge)
command -v sbatch >/dev/null || need+=(slurm-client)
if [ ${#need[@]} -gt 0 ]; then
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

T=$(mktemp -d /tmp/inoc-slurm-e2e.XXXXXX)
pids=()
cleanup() {
  local rc=$?
  if [ $rc -ne 0 ]; then
    echo "--- slurm-e2e failed (exit $rc); daemon logs:" >&2
    tail -n 20 "$T"/*.log >&2 2>/dev/null || true
  fi
  if [ -n "${SLURM_CONF:-}" ] && [ -f "$SLURM_CONF" ]; then
    scancel --me >/dev/null 2>&1 || true
  fi
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$T"
  exit $rc
}
trap cleanup EXIT INT TERM

user=$(id -un)
node=inoc-e2e
# Ports away from a system Slurm's 6817/6818.
ctld_port=$((20000 + RANDOM % 20000))
slurmd_port=$((ctld_port + 1))
mkdir -p "$T/state" "$T/spool" "$T/munge"
chmod 711 "$T/munge"

# munge: a fresh key, its socket in the temp dir.
dd if=/dev/urandom of="$T/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$T/munge/munge.key"
munged --key-file="$T/munge/munge.key" --socket="$T/munge/munge.socket" \
  --pid-file="$T/munge/munged.pid" --log-file="$T/munged.log" \
  --seed-file="$T/munge/munged.seed" --force --foreground >"$T/munged.out" 2>&1 &
pids+=($!)
for _ in $(seq 50); do [ -S "$T/munge/munge.socket" ] && break; sleep 0.1; done

# The node says it has 8 CPUs and 32 GB whatever the machine has
# (config_overrides), so that the default resources of training steps
# (4 CPUs, 16G) fit on a 2-core CI machine.
cat >"$T/slurm.conf" <<EOF
ClusterName=inoce2e
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
SlurmUser=$user
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$T/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
ReturnToService=2
JobCompType=jobcomp/none
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
MinJobAge=3600
KillWait=5
NodeName=$node NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=8 RealMemory=32000 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$T/slurm.conf
slurmctld -D -c -f "$SLURM_CONF" >"$T/slurmctld.out" 2>&1 &
pids+=($!)
slurmd -D -f "$SLURM_CONF" -N "$node" >"$T/slurmd.out" 2>&1 &
pids+=($!)
for _ in $(seq 120); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.5
done
[ "$state" = idle ] || { echo "slurm-e2e: node never became idle (state: '$state')" >&2; exit 1; }
echo "slurm-e2e: single-node Slurm up ($(sinfo --version))"

export INOC_SLURM_POLL=1
run_dir=$T/work
mkdir -p "$run_dir"

# 1. smoke.inoc: local vs Slurm, byte for byte.
local_folder=$(INOC_CACHE=$T/cache-local "$INOC" run --no-progress --runs-dir "$T/runs-local" specs/smoke.inoc 2>"$T/local.err")
INOC_CACHE=$T/cache-slurm "$INOC" run --executor slurm --runs-dir "$T/runs-slurm" specs/smoke.inoc 2>"$T/submit1.err"
grep -q "submitted" "$T/submit1.err"
# The second submission finds every job queued or running (or done) and follows them.
slurm_folder=$(INOC_CACHE=$T/cache-slurm "$INOC" run --executor slurm --wait --runs-dir "$T/runs-slurm" specs/smoke.inoc 2>"$T/submit2.err") \
  || { cat "$T/submit2.err" >&2; exit 1; }
if grep -q "^submitted" "$T/submit2.err"; then
  echo "slurm-e2e: the second submission submitted again:" >&2; cat "$T/submit2.err" >&2; exit 1
fi
echo "slurm-e2e: smoke.inoc through Slurm -> $slurm_folder"
python3 - "$local_folder" "$slurm_folder" <<'PY'
import json, os, sys, filecmp
a, b = sys.argv[1], sys.argv[2]
pa = json.load(open(os.path.join(a, "provenance.json")))
pb = json.load(open(os.path.join(b, "provenance.json")))
ha = {s["name"]: s["output_hash"] for s in pa["steps"]}
hb = {s["name"]: s["output_hash"] for s in pb["steps"]}
assert ha == hb, f"output hashes differ:\n{ha}\n{hb}"
ran_b = [s["name"] for s in pb["steps"] if s["status"] == "ran"]
assert not ran_b, f"the finishing job computed steps itself: {ran_b}"
skip = {"provenance.json", "index.html", "index.md", "logs"}
n = 0
for root, dirs, files in os.walk(a):
    rel = os.path.relpath(root, a)
    if rel.split(os.sep)[0] in skip:
        continue
    for f in files:
        if rel == "." and f in skip:
            continue
        fa, fb = os.path.join(root, f), os.path.join(b, rel, f)
        assert os.path.exists(fb), f"{fb} missing"
        assert filecmp.cmp(fa, fb, shallow=False), f"{rel}/{f} differs"
        n += 1
assert n > 0
print(f"slurm-e2e: {len(ha)} step outputs and {n} report files byte-identical to the local run")
PY
INOC_CACHE=$T/cache-slurm "$INOC" status specs/smoke.inoc >"$T/status-smoke.txt"
if grep -Eq " (pending|running|failed|lost|cancelled) " "$T/status-smoke.txt"; then
  cat "$T/status-smoke.txt" >&2; exit 1
fi
# Everything is stored now: a third run submits nothing.
INOC_CACHE=$T/cache-slurm "$INOC" run --executor slurm --runs-dir "$T/runs-slurm" specs/smoke.inoc >/dev/null 2>"$T/submit3.err"
grep -q "nothing to submit" "$T/submit3.err"

# 2. A failing step: reported with its diagnostic, its dependents cancelled.
fail_spec=tests/fixtures/slurm/failing.inoc
if INOC_CACHE=$T/cache-slurm "$INOC" run --executor slurm --wait --runs-dir "$T/runs-slurm" "$fail_spec" >/dev/null 2>"$T/fail.err"; then
  echo "slurm-e2e: the failing spec succeeded" >&2; cat "$T/fail.err" >&2; exit 1
fi
grep -q "E1001" "$T/fail.err" || { cat "$T/fail.err" >&2; exit 1; }
grep -q "step \`chats\` failed" "$T/fail.err" || { cat "$T/fail.err" >&2; exit 1; }
# `--wait` returns as soon as the run cannot finish; the pretraining beside
# the failed step may still be queued or running (it waits for free CPUs):
# poll the status until it has ended (at most 5 minutes).
set +e
for _ in $(seq 300); do
  INOC_CACHE=$T/cache-slurm "$INOC" status "$fail_spec" >"$T/status-fail.txt" 2>&1
  status_rc=$?
  grep -Eq "^base .* (pending|running) " "$T/status-fail.txt" || break
  sleep 1
done
set -e
cat "$T/status-fail.txt"
[ $status_rc -eq 1 ] || { echo "slurm-e2e: status exit $status_rc, expected 1" >&2; exit 1; }
for want in "^chats .* failed" "^tuned .* cancelled" "^answers .* cancelled" "^failing .* cancelled" "^base .* done"; do
  grep -Eq "$want" "$T/status-fail.txt" || { echo "slurm-e2e: status lacks /$want/" >&2; exit 1; }
done
# Slurm itself cancelled the dependents (kill-on-invalid-dep).
grep -Eq "^tuned .* CANCELLED" "$T/status-fail.txt" || { echo "slurm-e2e: Slurm did not cancel tuned" >&2; exit 1; }
# A re-run resubmits the failed step (and its dependents), reporting the failure.
INOC_CACHE=$T/cache-slurm "$INOC" run --executor slurm --runs-dir "$T/runs-slurm" "$fail_spec" 2>"$T/resubmit.err"
grep -q "step \`chats\` had failed in job" "$T/resubmit.err" || { cat "$T/resubmit.err" >&2; exit 1; }
grep -q "^submitted chats" "$T/resubmit.err"
grep -q "^submitted tuned" "$T/resubmit.err"
if grep -q "^submitted base" "$T/resubmit.err"; then
  echo "slurm-e2e: the stored step was resubmitted" >&2; exit 1
fi
scancel --me
echo "slurm-e2e: ok"
