#!/usr/bin/env bash
# Where fsync = "always" spends its time: one system at a time under
# scripts/bench's durability load (IAMAT / SET request-reply, 64
# connections, repeated IDs), pinned as scripts/bench pins it (the server on
# CPU 1, herd-load on CPU 0), with perf counting per thread what each reply
# costs and timing every fdatasync.
#   bench/profile-durability.sh always|batch|tmpfs|redis [SECONDS] [--cpu]
# always and batch are Herd's two policies; tmpfs is "always" with the store
# log on /dev/shm, where fdatasync returns at once: the hand-off to the log's
# thread without the disk. --cpu also samples call stacks (perf report -i
# DIR/cpu.data). Needs perf (linux-perf) and, for redis, redis-server.
set -euo pipefail
mode=$1
seconds=${2:-6}
cpu=${3:-}
root=$(cd "$(dirname "$0")/.." && pwd)
build=${BUILD:-$root/build/release}
dir=$(mktemp -d "${TMPDIR:-/tmp}/herd-profile-$mode-XXXXXX")
cd "$dir"
# Below the ephemeral range, peer port (port + 10000) included.
port=$((12000 + RANDOM % 10000))

if [[ $mode == redis ]]; then
    taskset -c 1 redis-server --port "$port" --bind 127.0.0.1 --save "" --appendonly yes --appendfsync always \
        --dir "$dir" --maxclients 20000 --protected-mode no >server.out 2>&1 &
    command="set"
else
    fsync=always data=data
    [[ $mode == batch ]] && fsync="batch"
    [[ $mode == tmpfs ]] && data=$(mktemp -d /dev/shm/herd-profile-XXXXXX)
    printf '[herd]\nlog_dir = "logs"\ndata_dir = "%s"\nfsync = "%s"\n\n[places]\nprovider = "local"\n\n' "$data" "$fsync" >herd.toml
    printf '[limits]\nconnections = 20000\n\n[servers.Goloman]\nport = %s\nadmin_port = 0\nneighbors = []\n' "$port" >>herd.toml
    taskset -c 1 "$build/apps/herd-server/herd-server" --name Goloman --config herd.toml >server.out 2>&1 &
    command="iamat"
fi
server=$!
sleep 1

events=task-clock,context-switches,block:block_rq_issue,syscalls:sys_enter_fdatasync,syscalls:sys_enter_write
events+=,syscalls:sys_enter_epoll_wait,syscalls:sys_enter_futex
perf stat --per-thread -e "$events" -p "$server" -o stat.txt &
counting=$!
perf record -q -e syscalls:sys_enter_fdatasync,syscalls:sys_exit_fdatasync -p "$server" -o sync.data >/dev/null 2>&1 &
timing=$!
sampling=
if [[ $cpu == --cpu ]]; then
    perf record -q -e cpu-clock -F 2000 -g -p "$server" -o cpu.data >/dev/null 2>&1 &
    sampling=$!
fi
start=$(date +%s.%N)
taskset -c 0 "$build/apps/herd-load/herd-load" --port "$port" -c 64 --ids repeated --command "$command" \
    --duration "$seconds" --warmup 1 >load.out
end=$(date +%s.%N)
kill -INT $counting $timing $sampling
wait $counting $timing $sampling 2>/dev/null || true
kill "$server"
wait "$server" 2>/dev/null || true
[[ $mode == tmpfs ]] && rm -rf "$data"

echo "$mode, $(uptime | sed 's/.*load/load/') ($dir)"
grep -E "throughput|latency" load.out
replies=$(awk '/ ok,/ {a = $2} /unmeasured/ {b = $2} END {print a + b}' load.out)
echo "per reply, over all $replies replies:"
grep -v '^#' stat.txt | awk -v n="$replies" '$2 ~ /^[0-9.,]+$/ && $2 != "0" {
    v = $2; gsub(",", "", v); if ($3 == "msec") { printf "  %-22s %-30s %8.3f us\n", $1, $4, v * 1000 / n }
    else { printf "  %-22s %-30s %8.3f\n", $1, $3, v / n } }'
perf script -i sync.data -F tid,time,event 2>/dev/null | python3 -c "
import sys
began, took = {}, []
for line in sys.stdin:
    tid, t, event = line.split()[:3]
    t = float(t.rstrip(':'))
    if 'enter' in event: began[tid] = t
    elif tid in began: took.append(t - began.pop(tid))
took.sort(); n = len(took); span = $end - $start
if n:
    q = lambda f: took[min(n - 1, int(n * f))] * 1e6
    print(f'fdatasync: {n / span:.0f}/s, {$replies / n:.1f} replies each, p50 {q(.5):.0f} us, p90 {q(.9):.0f} us, '
          f'p99 {q(.99):.0f} us; one in flight {100 * sum(took) / span:.0f}% of the time')
"
