#!/usr/bin/env bash
# bench/ipmi.sh: power status of N simulated BMCs (ipmi_sim on 127.0.1.1–N,
# cipher suite 3 for every tool), in one run:
#   ironrack cold  — `ironrack ipmi --hosts F power status` (new sessions)
#   ironrack warm  — `--rounds 3`, rounds 2–3 reuse the sessions of round 1
#   ipmipower      — FreeIPMI, same fan-out, new sessions (-W opensesspriv for ipmi_sim)
#   ipmitool ×16   — one process per host, 16 in parallel
# Prints wall time, client CPU, and the simulators' CPU beside each row
# (ipmi_sim burns ~1 ms per message: the floor on 2 cores), then the ratios.
#
# Usage:  bench/ipmi.sh          (builds the release binary)
#         IRONRACK_BIN=/path/ironrack N=200 bench/ipmi.sh
# Needs: openipmi ipmitool freeipmi-tools (installed with apt-get if missing).
set -euo pipefail

N=${N:-200}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=$(mktemp -d /tmp/ironrack-bench-ipmi.XXXXXX)

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cleanup() {
    "$REPO/lab/bmcs.sh" stop --dir "$WORK/bmcs" >/dev/null 2>&1 || true
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need=()
command -v ipmi_sim >/dev/null || need+=(openipmi)
command -v ipmitool >/dev/null || need+=(ipmitool)
command -v ipmipower >/dev/null || need+=(freeipmi-tools)
command -v bc >/dev/null || need+=(bc)
((${#need[@]} == 0)) || apt-get install -y -q "${need[@]}" >/dev/null

if [[ -n ${IRONRACK_BIN:-} ]]; then
    BIN=$IRONRACK_BIN
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
    log "building the release binary"
    (cd "$REPO" && cargo build --release -q -p ironrack)
    BIN=$CARGO_TARGET_DIR/release/ironrack
fi

log "starting $N ipmi_sim BMCs on 127.0.1.1-$N:623"
"$REPO/lab/bmcs.sh" start "$N" --ip-per-bmc --power on --dir "$WORK/bmcs" >/dev/null
for i in $(seq "$N"); do echo "127.0.1.$i"; done >"$WORK/hosts"
SIM_PIDS=$(cat "$WORK"/bmcs/bmc*/pid)

# CPU seconds of the simulators so far: each ipmi_sim's own time
# (schedstat: ns on CPU, exact) plus that of the children it reaped — the
# chassis_control script it forks for power and boot queries (cutime +
# cstime in /proc/PID/stat, in 10 ms ticks).
sim_cpu() {
    local ns=0 ticks=0 pid a f
    for pid in $SIM_PIDS; do
        read -r a _ <"/proc/$pid/schedstat" 2>/dev/null || continue
        ns=$((ns + a))
        f=$(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null) || continue
        set -- $f
        ticks=$((ticks + ${14} + ${15}))
    done
    echo "scale=3; $ns / 1000000000 + $ticks / 100" | bc
}

ROWS=()
# row NAME WALL_S CLIENT_CPU_S SIM_CPU_S OK
row() { ROWS+=("$(printf '| %-34s | %8.3f s | %8.3f s | %7.2f s | %5s |' "$@")"); }

# timed NAME CMD...: wall and client CPU from /usr/bin/time-like bash `times`.
timed() {
    local name=$1
    shift
    local s0 s1 t0 t1 out ok
    s0=$(sim_cpu)
    t0=$EPOCHREALTIME
    out=$( { TIMEFORMAT='%U %S'; time "$@" >"$WORK/out" 2>"$WORK/err"; } 2>&1 ) || true
    t1=$EPOCHREALTIME
    s1=$(sim_cpu)
    ok=$(grep -c -E '(: | is )on$' "$WORK/out" || true)
    set -- $out
    row "$name" "$(echo "$t1 - $t0" | bc)" "$(echo "$1 + $2" | bc)" "$(echo "$s1 - $s0" | bc)" "$ok/$N"
    LAST_WALL=$(echo "$t1 - $t0" | bc)
    LAST_CPU=$(echo "$1 + $2" | bc)
}

export IPMI_PASSWORD=password
log "ironrack cold"
timed "ironrack, new sessions" "$BIN" ipmi --hosts "$WORK/hosts" -U ADMIN -E -C 3 power status
IR_COLD_WALL=$LAST_WALL IR_COLD_CPU=$LAST_CPU

log "ironrack warm (3 rounds over the same sessions)"
s0=$(sim_cpu)
"$BIN" ipmi --hosts "$WORK/hosts" -U ADMIN -E -C 3 --rounds 3 power status >"$WORK/out" 2>"$WORK/rounds"
s1=$(sim_cpu)
cat "$WORK/rounds" >&2
# round lines: "round K: N hosts, F failed, W ms wall, C ms CPU"
read -r w2 c2 < <(awk '/^round 2:/ {print $7/1000, $10/1000}' "$WORK/rounds")
read -r w3 c3 < <(awk '/^round 3:/ {print $7/1000, $10/1000}' "$WORK/rounds")
IR_WARM_WALL=$(echo "scale=4; ($w2 + $w3) / 2" | bc)
IR_WARM_CPU=$(echo "scale=4; ($c2 + $c3) / 2" | bc)
row "ironrack, reused sessions (per round)" "$IR_WARM_WALL" "$IR_WARM_CPU" \
    "$(echo "scale=2; ($s1 - $s0) / 3" | bc)" "$(grep -c -E '(: | is )on$' "$WORK/out" || true)/$N"

log "ipmipower"
timed "ipmipower (FreeIPMI), new sessions" ipmipower -h "127.0.1.[1-$N]" -u ADMIN -p password \
    -D LAN_2_0 -I 3 -W opensesspriv --stat
IPMIPOWER_WALL=$LAST_WALL IPMIPOWER_CPU=$LAST_CPU

log "ipmitool x16"
timed "ipmitool, 1 process/host, 16 parallel" \
    xargs -P16 -I{} ipmitool -I lanplus -H {} -U ADMIN -E -C 3 power status <"$WORK/hosts"
IPMITOOL_WALL=$LAST_WALL

ratio() { echo "scale=2; $1 / $2" | bc; }
echo
echo "Power status of $N ipmi_sim BMCs, cipher suite 3; 'sims CPU' = CPU the $N ipmi_sim processes and their chassis_control scripts burnt during the row"
printf '| %-34s | %10s | %10s | %9s | %5s |\n' tool wall "client CPU" "sims CPU" "on"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
echo "cold:  ironrack wall / ipmipower wall = $(ratio "$IR_COLD_WALL" "$IPMIPOWER_WALL") (target <= 1); client CPU ratio = $(ratio "$IR_COLD_CPU" "$IPMIPOWER_CPU") (target <= 1)"
echo "warm:  ipmipower wall / ironrack warm wall = $(ratio "$IPMIPOWER_WALL" "$IR_WARM_WALL") (target >= 5); ironrack warm CPU / ipmipower CPU = $(ratio "$IR_WARM_CPU" "$IPMIPOWER_CPU") (target <= 0.1)"
echo "       ipmitool wall / ironrack warm wall = $(ratio "$IPMITOOL_WALL" "$IR_WARM_WALL") (target >= 20)"
echo "CPU figures have 10 ms resolution (USER_HZ). Reproduce: IRONRACK_BIN=... N=$N bench/ipmi.sh"
