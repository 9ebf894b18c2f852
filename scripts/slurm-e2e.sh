#!/usr/bin/env bash
# End-to-end check of the README's many-machines path on a real scheduler: a one-node SLURM
# cluster on localhost runs examples/slurm/de2en.sbatch as a job array over a generated corpus.
#
#   1. the array translates every article exactly once, each task logs, every task exits 0;
#   2. `scontrol requeue` of one finished task redoes nothing (outputs untouched, log says skipped);
#   3. an array cancelled midway (`scancel`, i.e. SIGTERM) leaves no partial or temp file, and a
#      resubmission completes the corpus, skipping what the cancelled run finished.
#
# Needs root (slurmd runs jobs as their submitter and must switch users). Installs slurm-wlm and
# munge with apt-get when missing. Everything else lives in a temp dir: its own munge key and
# socket, slurm.conf, state, spool, logs and ports, so a system SLURM or munge is never touched.
# The daemons it starts are stopped by pid on exit.
#
# When the machine cannot run SLURM (not root, no apt-get, daemons that will not start) it prints
# "slurm-e2e: SKIPPED: <why>" and exits 0; DE2EN_REQUIRE_SLURM=1 turns that into a failure.
# DE2EN_BIN picks the binary (default: target/debug/de2en, as `cargo test --all-targets` builds it);
# DE2EN_KEEP_TMP=1 keeps the temp dir for inspection.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$PWD
START=$SECONDS

say() { echo "slurm-e2e: $*" >&2; }
fail() {
    say "FAILED: $*"
    exit 1
}
skip() {
    if [ -n "${DE2EN_REQUIRE_SLURM:-}" ]; then
        fail "(DE2EN_REQUIRE_SLURM is set) $*"
    fi
    say "SKIPPED: $*"
    exit 0
}

[ "$(id -u)" = 0 ] || skip "needs root (slurmd must run jobs as their submitter)"
if grep -qsx slurmctld /proc/[0-9]*/comm; then # (pgrep is not on a bare Debian)
    skip "a slurmctld is already running on this machine; not starting a second cluster beside it"
fi

# --- SLURM and munge, from the distribution --------------------------------------------------
if ! command -v slurmctld >/dev/null || ! command -v slurmd >/dev/null \
    || ! command -v sbatch >/dev/null || ! command -v munged >/dev/null; then
    command -v apt-get >/dev/null || skip "slurm-wlm/munge are not installed and there is no apt-get"
    say "installing slurm-wlm and munge (apt-get)"
    export DEBIAN_FRONTEND=noninteractive
    # The package scripts try to start services; without systemd that fails harmlessly.
    if ! { apt-get update -qq && apt-get install -y -qq --no-install-recommends slurm-wlm munge >/dev/null; }; then
        skip "apt-get install slurm-wlm munge failed"
    fi
fi
say "$(slurmctld -V)"

# --- the binary under test --------------------------------------------------------------------
if [ -z "${DE2EN_BIN:-}" ]; then
    # Built the way scripts/test.sh's `cargo test --all-targets` builds it, so that there this is
    # a no-op: a plain `cargo build` resolves dependency features without the dev-dependencies
    # and would compile most dependencies a second time (7 minutes on 2 cores).
    cargo test --all-targets --no-run --quiet
    DE2EN_BIN=${CARGO_TARGET_DIR:-$REPO/target}/debug/de2en
fi
DE2EN_BIN=$(realpath "$DE2EN_BIN")
[ -x "$DE2EN_BIN" ] || fail "no de2en binary at $DE2EN_BIN"

# --- a private one-node cluster ---------------------------------------------------------------
T=$(mktemp -d /tmp/de2en-slurm-e2e.XXXXXX)
chmod 755 "$T" # slurmd's job steps read the corpus and write outputs here
PIDS=()
JOBS=()
cleanup() {
    local rc=$?
    # Jobs first (their processes belong to slurmd's steps), then the daemons, newest first.
    if [ "${#JOBS[@]}" -gt 0 ]; then scancel "${JOBS[@]}" 2>/dev/null || true; fi
    local i
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill "${PIDS[i]}" 2>/dev/null || true; done
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do wait "${PIDS[i]}" 2>/dev/null || true; done
    if [ "$rc" != 0 ] && [ -d "$T" ]; then
        for log in "$T"/slurmctld.log "$T"/slurmd.log "$T"/munged.log; do
            [ -f "$log" ] && { say "--- last lines of $log"; tail -n 15 "$log" >&2; }
        done
    fi
    if [ -n "${DE2EN_KEEP_TMP:-}" ]; then say "kept $T"; else rm -rf "$T"; fi
    return "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

mkdir -p "$T/state" "$T/spool" "$T/logs" "$T/munge" "$T/hf"
HOST=$(hostname -s 2>/dev/null || uname -n)
CPUS=$(nproc)
# Declare a little less memory than there is, or slurmd drains the node as "Low RealMemory".
MEM_MB=$(awk '/^MemTotal:/ { printf "%d", $2 / 1024 * 0.9 }' /proc/meminfo)
# Ports of our own (not 6817/6818), chosen from the pid so parallel runs rarely collide.
PORT=$((20000 + ($$ % 20000) * 2))

# munge: a fresh key and a private socket.
head -c 1024 /dev/urandom >"$T/munge/munge.key"
chmod 700 "$T/munge"
chmod 400 "$T/munge/munge.key"
munged --foreground --force --key-file "$T/munge/munge.key" --socket "$T/munge/socket" \
    --pid-file "$T/munge/munged.pid" --seed-file "$T/munge/seed" --log-file "$T/munged.log" \
    >>"$T/munged.log" 2>&1 &
PIDS+=($!)

cat >"$T/slurm.conf" <<EOF
# Written by scripts/slurm-e2e.sh: one node on localhost, no systemd, no cgroups, no accounting.
ClusterName=de2ene2e
SlurmctldHost=$HOST(127.0.0.1)
SlurmUser=root
SlurmdUser=root
SlurmctldPort=$PORT
SlurmdPort=$((PORT + 1))
AuthType=auth/munge
AuthInfo=socket=$T/munge/socket
CredType=cred/munge
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
# Processes tracked through /proc (proctrack/cgroup and task/cgroup need a cgroup hierarchy).
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
# CPUs are the only consumable: several tasks share the node, memory is not enforced.
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
# Finished jobs stay visible to scontrol for the checks (and the requeue).
MinJobAge=900
# SIGTERM to SIGKILL on scancel: de2en stops within a second; 20 s would only hide a hang.
KillWait=20
InactiveLimit=0
SlurmdTimeout=60
NodeName=$HOST NodeAddr=127.0.0.1 CPUs=$CPUS RealMemory=$MEM_MB State=UNKNOWN
PartitionName=e2e Nodes=ALL Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$T/slurm.conf

# Waits until "$@" succeeds, at most $1 seconds (then returns 1).
wait_for() {
    local deadline=$((SECONDS + $1))
    shift
    until "$@"; do
        [ "$SECONDS" -lt "$deadline" ] || return 1
        sleep 0.5
    done
}

wait_for 10 test -S "$T/munge/socket" || skip "munged did not start (see above)"
slurmctld -D -f "$T/slurm.conf" >>"$T/slurmctld.out" 2>&1 &
PIDS+=($!)
slurmd -D -f "$T/slurm.conf" -N "$HOST" >>"$T/slurmd.out" 2>&1 &
PIDS+=($!)
node_idle() { [ "$(sinfo -h -n "$HOST" -o %t 2>/dev/null)" = idle ]; }
if ! wait_for 30 node_idle; then
    for f in "$T"/slurmctld.out "$T"/slurmd.out "$T"/slurmctld.log "$T"/slurmd.log; do
        [ -f "$f" ] && { say "--- $f"; tail -n 20 "$f" >&2; }
    done
    skip "the one-node cluster did not come up within 30 s (node state: $(sinfo -h -o %t 2>&1 || true))"
fi
say "cluster up: node $HOST, $CPUS CPUs, ${MEM_MB} MB ($((SECONDS - START)) s)"

# --- the corpus -------------------------------------------------------------------------------
# Articles without quotation marks, so the identity engine gives them back byte for byte.
ARTICLES=300
for ((i = 0; i < ARTICLES; i++)); do
    d="$T/in/ressort$((i % 7))/$((2000 + i % 5))"
    mkdir -p "$d"
    printf 'Meldung Nummer %d\n\nDie Stadt plant für das Jahr %d neue Radwege. Der Rat stimmt am Montag ab.\nDie Kosten liegen bei %d Millionen Euro.\n' \
        "$i" "$((2000 + i))" "$i" >"$d/meldung-$i.de.txt"
done
INPUTS=$(cd "$T/in" && find . -type f | sort)

TASKS=4 # array 0-3: --shard K/4, two tasks at a time on two CPUs
# Submits examples/slurm/de2en.sbatch unchanged; the test's settings go in through the
# environment and sbatch's command line (which overrides the script's #SBATCH lines).
# Each output folder has its own translation memory (the script's default is one per node and user,
# kept between jobs): with a shared one, the slow array below would answer every sentence from
# the memory the first array filled and finish before it could be cancelled.
submit() { # OUTPUT_DIR EXTRA_DE2EN_ARGS → job id
    DE2EN=$DE2EN_BIN DE2EN_INPUT=$T/in DE2EN_OUTPUT=$1 HF_HOME=$T/hf DE2EN_MEMORY=$1.memory.sqlite3 \
        DE2EN_ARGS="--engine identity --quotes keep $2" \
        sbatch --parsable --array=0-$((TASKS - 1)) --cpus-per-task=1 --mem=256M \
        --time=00:10:00 --chdir="$T" --output="$T/logs/de2en-%A_%a.log" \
        "$REPO/examples/slurm/de2en.sbatch" | cut -d';' -f1
}
job_gone() { [ -z "$(squeue -h -j "$1" -o %i 2>/dev/null)" ]; }
# One line per array task: "task state exit-code restarts".
job_states() {
    # (Tasks cancelled before they started stay one record, e.g. "2-3 CANCELLED".)
    scontrol -o show job "$1" | sed -nE \
        's/.*ArrayTaskId=([0-9-]+) .*JobState=([A-Z_]+) .*Restarts=([0-9]+) .*ExitCode=([0-9:]+).*/\1 \2 \4 restarts=\3/p' |
        sort -n
}
output_name() { sed -E 's/\.de\./.en./' <<<"$1"; }
# Every output that exists equals its input; prints how many exist. Fails on temp files or strays.
check_outputs() { # OUTPUT_DIR
    local out=$1 n=0 rel
    if [ -n "$(find "$out" -name '.de2en-tmp-*' -print -quit)" ]; then
        fail "temp files left in $out: $(find "$out" -name '.de2en-tmp-*' | head -3)"
    fi
    while read -r rel; do
        local o
        o="$out/$(output_name "$rel")"
        if [ -e "$o" ]; then
            cmp -s "$T/in/$rel" "$o" || fail "$o differs from its input (partial or wrong)"
            n=$((n + 1))
        fi
    done <<<"$INPUTS"
    local all
    all=$(find "$out" -type f ! -name '.de2en-manifest*' | wc -l)
    [ "$all" = "$n" ] || fail "$out holds $all files besides manifests, $n of them outputs of inputs"
    echo "$n"
}
# Sums a field of the tasks' last summary lines ("de2en: A translated, B skipped (up to date), …").
summary_sum() { # JOB FIELD(translated|skipped|failed)
    local total=0 k line
    for ((k = 0; k < TASKS; k++)); do
        line=$(grep '^de2en: .* translated, ' "$T/logs/de2en-$1_$k.log" | tail -n 1) ||
            fail "task $1_$k's log has no summary line: $(tail -n 3 "$T/logs/de2en-$1_$k.log")"
        total=$((total + $(sed -E "s/.* ([0-9]+) $2.*/\1/" <<<"$line")))
    done
    echo "$total"
}
snapshot() { (cd "$1" && find . -type f ! -name '.*' -printf '%P %T@\n' | sort); }

# --- 1. the array over the whole corpus -------------------------------------------------------
OUT=$T/out
JOB=$(submit "$OUT" "")
JOBS+=("$JOB")
say "submitted array job $JOB (tasks 0-$((TASKS - 1))) over $ARTICLES articles"
wait_for 120 job_gone "$JOB" || fail "array $JOB still running after 120 s: $(squeue -j "$JOB")"
STATES=$(job_states "$JOB")
say "array $JOB finished ($((SECONDS - START)) s):"
sed 's/^/    task /' <<<"$STATES" >&2
[ "$(grep -c ' COMPLETED 0:0 ' <<<"$STATES")" = "$TASKS" ] || fail "not every task completed with exit 0"
N=$(check_outputs "$OUT")
[ "$N" = "$ARTICLES" ] || fail "$N of $ARTICLES articles translated"
TRANSLATED=$(summary_sum "$JOB" translated)
[ "$TRANSLATED" = "$ARTICLES" ] || fail "the tasks translated $TRANSLATED files for $ARTICLES inputs (some twice?)"
for ((k = 0; k < TASKS; k++)); do
    [ -f "$OUT/.de2en-manifest.shard-$k-of-$TASKS.json" ] || fail "no manifest for shard $k"
done
say "ok: $ARTICLES articles, each translated once (sum of the task logs: $TRANSLATED), identical to the inputs, $TASKS manifests"

# --- 2. a requeued task finds its work done ---------------------------------------------------
BEFORE=$(snapshot "$OUT")
scontrol requeue "${JOB}_1"
# SLURM holds a requeued job back (a later begin time; here it had not restarted after 90 s) so
# a failing node is not hammered; a user would wait, the test asks for it to start now.
scontrol update JobId="${JOB}_1" StartTime=now
requeued_done() { job_states "$JOB" | grep -q '^1 COMPLETED 0:0 restarts=1$'; }
wait_for 90 requeued_done || fail "requeued task ${JOB}_1 did not complete again: $(job_states "$JOB")"
LINE=$(grep '^de2en: .* translated, ' "$T/logs/de2en-${JOB}_1.log" | tail -n 1)
say "requeued task ${JOB}_1: $LINE"
grep -qE '^de2en: 0 translated, [1-9][0-9]* skipped \(up to date\), 0 failed' <<<"$LINE" ||
    fail "the requeued task did not skip everything: $LINE"
[ "$(snapshot "$OUT")" = "$BEFORE" ] || fail "the requeued task touched outputs (mtimes changed)"
say "ok: requeue redid nothing (outputs' mtimes unchanged)"

# --- 3. cancelled midway, resubmitted ---------------------------------------------------------
OUT2=$T/out-cancel
# One file per engine call, each call 100 ms: the array takes ~15 s, cancelled after a few.
JOB2=$(submit "$OUT2" "--window 0 --debug-engine-delay-ms 100")
JOBS+=("$JOB2")
some_written() { [ "$(find "$OUT2" -type f ! -name '.*' 2>/dev/null | wc -l)" -ge 20 ]; }
wait_for 60 some_written || fail "slow array $JOB2 wrote nothing within 60 s: $(job_states "$JOB2")"
scancel "$JOB2"
wait_for 60 job_gone "$JOB2" || fail "cancelled array $JOB2 did not end within 60 s"
say "array $JOB2 cancelled midway:"
job_states "$JOB2" | sed 's/^/    task /' >&2
DONE=$(check_outputs "$OUT2")
[ "$DONE" -lt "$ARTICLES" ] || fail "the slow array finished before it was cancelled; nothing was tested"
# The tasks that were running got SIGTERM (not SIGKILL after KillWait) and stopped cleanly.
STOPPED=$({ grep -l '^de2en: interrupted; every file written is complete' "$T/logs/de2en-${JOB2}_"*.log || true; } | wc -l)
[ "$STOPPED" -ge 1 ] || fail "no cancelled task logged a clean stop: $(cat "$T/logs/de2en-${JOB2}_"*.log)"
say "ok: after scancel $DONE of $ARTICLES outputs, all complete, no temp file; $STOPPED task(s) stopped cleanly on SIGTERM"
JOB3=$(submit "$OUT2" "")
JOBS+=("$JOB3")
wait_for 120 job_gone "$JOB3" || fail "resubmitted array $JOB3 still running after 120 s"
STATES=$(job_states "$JOB3")
say "resubmitted array $JOB3:"
sed 's/^/    task /' <<<"$STATES" >&2
[ "$(grep -c ' COMPLETED 0:0 ' <<<"$STATES")" = "$TASKS" ] || fail "not every resubmitted task completed with exit 0"
N=$(check_outputs "$OUT2")
[ "$N" = "$ARTICLES" ] || fail "after resubmission $N of $ARTICLES articles translated"
SKIPPED=$(summary_sum "$JOB3" skipped)
TRANSLATED=$(summary_sum "$JOB3" translated)
[ "$SKIPPED" = "$DONE" ] || fail "the resubmission skipped $SKIPPED files, but $DONE were done before"
[ "$TRANSLATED" = "$((ARTICLES - DONE))" ] || fail "the resubmission translated $TRANSLATED, expected $((ARTICLES - DONE))"
say "ok: resubmission translated the remaining $TRANSLATED and skipped the $SKIPPED done before"
say "passed in $((SECONDS - START)) s"
