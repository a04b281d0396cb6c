#!/usr/bin/env bash
# bench/ipmi.sh: power status of N simulated BMCs, cipher suite 3 for every
# tool, in one run, on two racks:
#   ipmi_sim    — OpenIPMI's simulator, one process per BMC on 127.0.1.1–N
#                 (forks its chassis_control script for every status query)
#   lab bmc     — `ironrack lab bmc --count N` on 127.0.2.1–N: one process,
#                 no fork per query, so the clients' own cost shows
# and on each, the tools:
#   ironrack cold  — `ironrack ipmi --hosts F power status` (new sessions)
#   ironrack warm  — `--rounds 3`, rounds 2–3 reuse the sessions of round 1
#   ipmipower      — FreeIPMI, same fan-out, new sessions
#   ipmitool ×16   — one process per host, 16 in parallel
# Every row runs REPEAT times; the table shows medians (wall, client CPU,
# and the simulators' CPU beside each row: on 2 cores they share the
# machine with the client). Then the 1,000-session memory figure: RSS of
# `ironrack ipmi --rounds 2` holding SESSIONS sessions to lab BMCs.
#
# Usage:  bench/ipmi.sh          (builds the release binary)
#         IRONRACK_BIN=/path/ironrack N=200 REPEAT=3 SESSIONS=1000 bench/ipmi.sh
#         RACKS="sim lab" (default both)
# Needs: openipmi ipmitool freeipmi-tools bc (installed with apt-get if missing).
set -euo pipefail

N=${N:-200}
REPEAT=${REPEAT:-3}
SESSIONS=${SESSIONS:-1000}
RACKS=${RACKS:-"sim lab"}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=$(mktemp -d /tmp/ironrack-bench-ipmi.XXXXXX)
LAB_PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
cleanup() {
    "$REPO/lab/bmcs.sh" stop --dir "$WORK/bmcs" >/dev/null 2>&1 || true
    for pid in "${LAB_PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
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
export IPMI_PASSWORD=password

# CPU seconds of the simulators so far, exact: the time on CPU (schedstat,
# ns) of every thread of every simulator (ipmi_sim has one; the lab BMC
# process has tokio's), plus the CPU of children they reaped — ipmi_sim's
# chassis_control scripts (cutime + cstime in /proc/PID/stat, 10 ms ticks).
SIM_PIDS=""
sim_cpu() {
    local ns=0 ticks=0 pid a f t
    for pid in $SIM_PIDS; do
        for t in /proc/"$pid"/task/*/schedstat; do
            read -r a _ <"$t" 2>/dev/null || continue
            ns=$((ns + a))
        done
        f=$(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null) || continue
        set -- $f
        ticks=$((ticks + ${14} + ${15}))
    done
    echo "scale=3; $ns / 1000000000 + $ticks / 100" | bc
}

median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print v[int((NR + 1) / 2)]}'; }

ROWS=()
# Results of the last measure: medians of wall, client CPU, sims CPU; hosts on.
M_WALL=0 M_CPU=0 M_SIM=0 M_ON=""

# measure NAME CMD...: runs CMD REPEAT times; medians into M_*.
measure() {
    local name=$1
    shift
    local walls=() cpus=() sims=() s0 s1 t0 t1 out k u s
    for ((k = 0; k < REPEAT; k++)); do
        s0=$(sim_cpu)
        t0=$EPOCHREALTIME
        out=$( { TIMEFORMAT='%U %S'; time "$@" >"$WORK/out" 2>"$WORK/err"; } 2>&1 ) || true
        t1=$EPOCHREALTIME
        s1=$(sim_cpu)
        read -r u s <<<"$out"
        walls+=("$(echo "$t1 - $t0" | bc)")
        cpus+=("$(echo "$u + $s" | bc)")
        sims+=("$(echo "$s1 - $s0" | bc)")
    done
    M_WALL=$(median "${walls[@]}") M_CPU=$(median "${cpus[@]}") M_SIM=$(median "${sims[@]}")
    M_ON="$(grep -c -E '(: | is )on$' "$WORK/out" || true)/$N"
    ROWS+=("$(printf '| %-48s | %8.3f s | %8.3f s | %7.3f s | %7s |' "$name" "$M_WALL" "$M_CPU" "$M_SIM" "$M_ON")")
}

# warm HOSTS_FILE NAME: REPEAT runs of 3 rounds; median of rounds 2–3.
warm() {
    local hosts=$1 name=$2 walls=() cpus=() sims=() s0 s1 k w c
    for ((k = 0; k < REPEAT; k++)); do
        s0=$(sim_cpu)
        "$BIN" ipmi --hosts "$hosts" -U ADMIN -E -C 3 --rounds 3 power status >"$WORK/out" 2>"$WORK/rounds" || true
        s1=$(sim_cpu)
        # round lines: "round K: N hosts, F failed, W ms wall, C ms CPU, ..."
        while read -r w c; do walls+=("$w") cpus+=("$c"); done < <(awk '/^round [23]:/ {print $7/1000, $10/1000}' "$WORK/rounds")
        sims+=("$(echo "scale=3; ($s1 - $s0) / 3" | bc)")
    done
    M_WALL=$(median "${walls[@]}") M_CPU=$(median "${cpus[@]}") M_SIM=$(median "${sims[@]}")
    M_ON="$(grep -c -E '(: | is )on$' "$WORK/out" || true)/$N"
    ROWS+=("$(printf '| %-48s | %8.3f s | %8.3f s | %7.3f s | %7s |' "$name" "$M_WALL" "$M_CPU" "$M_SIM" "$M_ON")")
}

ratio() { echo "scale=2; $1 / $2" | bc; }
SUMMARY=()

# run_rack LABEL HOSTS_FILE IPMIPOWER_HOSTS IPMIPOWER_EXTRA...
run_rack() {
    local label=$1 hosts=$2 range=$3
    shift 3
    log "$label: ironrack cold"
    measure "$label: ironrack, new sessions" "$BIN" ipmi --hosts "$hosts" -U ADMIN -E -C 3 power status
    local cold_wall=$M_WALL cold_cpu=$M_CPU
    log "$label: ironrack warm"
    warm "$hosts" "$label: ironrack, reused sessions (per round)"
    local warm_wall=$M_WALL warm_cpu=$M_CPU
    log "$label: ipmipower"
    measure "$label: ipmipower (FreeIPMI), new sessions" ipmipower -h "$range" -u ADMIN -p password \
        -D LAN_2_0 -I 3 "$@" --stat
    local ip_wall=$M_WALL ip_cpu=$M_CPU
    log "$label: ipmitool x16"
    measure "$label: ipmitool, 1 process/host, 16 parallel" \
        xargs -a "$hosts" -P16 -I{} ipmitool -I lanplus -H {} -U ADMIN -E -C 3 power status
    local it_wall=$M_WALL
    SUMMARY+=("$label cold: ironrack wall / ipmipower wall = $(ratio "$cold_wall" "$ip_wall") (target <= 1); client CPU ratio = $(ratio "$cold_cpu" "$ip_cpu") (target <= 1)")
    SUMMARY+=("$label warm: ipmipower wall / ironrack warm wall = $(ratio "$ip_wall" "$warm_wall") (target >= 5); ironrack warm CPU / ipmipower CPU = $(ratio "$warm_cpu" "$ip_cpu") (target <= 0.1); ipmitool wall / ironrack warm wall = $(ratio "$it_wall" "$warm_wall") (target >= 20)")
}

# Waits until a lab BMC answers a ping-like status (its sockets are bound).
wait_lab() {
    local host=$1
    for _ in $(seq 100); do
        "$BIN" ipmi -H "$host" -U ADMIN -E -C 3 power status >/dev/null 2>&1 && return
        sleep 0.1
    done
    log "lab BMC $host did not answer"
    exit 1
}

for rack in $RACKS; do
    case $rack in
    sim)
        log "starting $N ipmi_sim BMCs on 127.0.1.1-$N:623"
        "$REPO/lab/bmcs.sh" start "$N" --ip-per-bmc --power on --dir "$WORK/bmcs" >/dev/null
        for i in $(seq "$N"); do echo "127.0.1.$i"; done >"$WORK/sim-hosts"
        SIM_PIDS=$(cat "$WORK"/bmcs/bmc*/pid)
        # ipmipower needs -W opensesspriv with ipmi_sim (LAB.md).
        run_rack "ipmi_sim" "$WORK/sim-hosts" "127.0.1.[1-$N]" -W opensesspriv
        "$REPO/lab/bmcs.sh" stop --dir "$WORK/bmcs" >/dev/null 2>&1 || true
        ;;
    lab)
        ((N <= 250)) || { log "N <= 250 for the lab rack (127.0.2.x)"; exit 1; }
        log "starting $N lab BMCs (one ironrack lab bmc process) on 127.0.2.1-$N:623"
        IRONRACK_BMC_PASSWORD=password "$BIN" lab bmc --listen 127.0.2.1:623 --count "$N" \
            --user ADMIN 2>"$WORK/lab.log" &
        LAB_PIDS+=($!)
        SIM_PIDS=$!
        for i in $(seq "$N"); do echo "127.0.2.$i"; done >"$WORK/lab-hosts"
        wait_lab "127.0.2.$N"
        # The lab BMC starts powered off; switch every one on so that rows
        # count the same "on" answers as on the ipmi_sim rack.
        "$BIN" ipmi --hosts "$WORK/lab-hosts" -U ADMIN -E -C 3 power on >/dev/null
        run_rack "lab bmc" "$WORK/lab-hosts" "127.0.2.[1-$N]"
        ;;
    *) log "unknown rack $rack (sim, lab)"; exit 1 ;;
    esac
done

# Memory with SESSIONS open sessions: lab BMCs on 127.0.4.0 onwards.
RSS_LINE=""
if ((SESSIONS > 0)); then
    log "memory: $SESSIONS sessions held by one ironrack process"
    IRONRACK_BMC_PASSWORD=password "$BIN" lab bmc --listen 127.0.4.1:623 --count "$SESSIONS" \
        --user ADMIN 2>"$WORK/lab-mem.log" &
    LAB_PIDS+=($!)
    python3 - "$SESSIONS" >"$WORK/mem-hosts" <<'EOF'
import ipaddress, sys
first = ipaddress.IPv4Address("127.0.4.1")
for i in range(int(sys.argv[1])):
    print(first + i)
EOF
    wait_lab "$(tail -n 1 "$WORK/mem-hosts")"
    "$BIN" ipmi --hosts "$WORK/mem-hosts" -U ADMIN -E -C 3 --rounds 2 power status >/dev/null 2>"$WORK/mem-rounds" || true
    RSS_LINE=$(grep '^round 2:' "$WORK/mem-rounds" || cat "$WORK/mem-rounds")
fi

echo
echo "Power status of $N BMCs, cipher suite 3, medians of $REPEAT runs; 'sims CPU' = CPU the simulators (and ipmi_sim's chassis_control scripts) burnt during the row"
printf '| %-48s | %10s | %10s | %9s | %7s |\n' tool wall "client CPU" "sims CPU" "on"
for r in "${ROWS[@]}"; do echo "$r"; done
echo
for s in "${SUMMARY[@]}"; do echo "$s"; done
if [[ -n $RSS_LINE ]]; then
    echo "memory: $RSS_LINE (target: < 20 MB RSS with 1,000 open sessions)"
fi
echo "CPU figures have 10 ms resolution (USER_HZ). Reproduce: IRONRACK_BIN=... N=$N REPEAT=$REPEAT SESSIONS=$SESSIONS RACKS=\"$RACKS\" bench/ipmi.sh"
