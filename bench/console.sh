#!/usr/bin/env bash
# bench/console.sh: one VNC stream three ways, in one run —
#   direct     the client on the RFB server's TCP port (the ceiling)
#   websockify Debian's websockify in front of the same server
#   ironrack   a console session through `ironrack serve`'s gateway
# plus `relay`, a plain TCP→TCP copy (tokio, no WebSocket): what any
# user-space proxy costs on this machine.
#
# The peer is a raw-encoding RFB server and the client measures bytes/s of
# full-screen updates and the round trip of 1×1 updates
# (crates/console/examples/console_load.rs; one thread each). The client does
# the same work per byte over TCP and WebSocket, so `direct` is its ceiling.
# Then idle memory: SESSIONS console sessions opened through the API and held
# by viewers that finished the RFB handshake (ironrack's PSS growth per
# session over the second half of them), and WS_SESSIONS idle websockify
# connections (websockify forks per connection: PSS of it and its
# children). Prints a table with the targets, and each proxy's CPU per MiB
# (which the machine's other load does not change, unlike MiB/s).
#
# Usage:  bench/console.sh                         (builds the release binaries)
#         IRONRACK_BIN=... LOAD_BIN=... bench/console.sh
#         DURATION=3 ROUNDS=1 SESSIONS=500 bench/console.sh     (quick look)
# Knobs: DURATION (s per throughput run, 5), ROUNDS (3, median), DEPTH (update
# requests in flight, 2), LAT_COUNT (round trips, 20000), SESSIONS (5000),
# WS_SESSIONS (50), WIDTH×HEIGHT (1024×768), PORTS (range for free ports,
# 20000-60000), QUIET_PCT/QUIET_WAIT (wait for an idle machine), KEEP=1.
# Needs: websockify, curl, jq, sqlite3 (installed with apt-get if missing).
set -euo pipefail

DURATION=${DURATION:-5}
ROUNDS=${ROUNDS:-3}
DEPTH=${DEPTH:-2}
LAT_COUNT=${LAT_COUNT:-20000}
SESSIONS=${SESSIONS:-5000}
WS_SESSIONS=${WS_SESSIONS:-50}
WIDTH=${WIDTH:-1024}
HEIGHT=${HEIGHT:-768}
PORTS=${PORTS:-20000-60000}
KEEP=${KEEP:-0}
PW=bench-admin-pass
PIN=2468

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=$(mktemp -d /tmp/ironrack-bench-console.XXXXXX)
PIDS=()

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }
cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
    if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

need=()
command -v websockify >/dev/null || need+=(websockify)
command -v curl >/dev/null || need+=(curl)
command -v jq >/dev/null || need+=(jq)
command -v sqlite3 >/dev/null || need+=(sqlite3)
((${#need[@]} == 0)) || apt-get install -y -q "${need[@]}" >/dev/null

export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
if [[ -z ${IRONRACK_BIN:-} || -z ${LOAD_BIN:-} ]]; then
    log "building: (cd $REPO && cargo build --release -p ironrack -p ironrack-console --example console_load)"
    (cd "$REPO" && cargo build --release -q -p ironrack && cargo build --release -q -p ironrack-console --example console_load)
fi
BIN=${IRONRACK_BIN:-$CARGO_TARGET_DIR/release/ironrack}
LOAD=${LOAD_BIN:-$CARGO_TARGET_DIR/release/examples/console_load}
[[ -x $BIN && -x $LOAD ]] || die "no binaries at $BIN / $LOAD"

# Each idle session is two sockets in ironrack, one in the client, one in
# the RFB server.
ulimit -n "$(ulimit -Hn)"
(($(ulimit -n) >= 2 * SESSIONS + 200)) || die "ulimit -n $(ulimit -n) is too low for SESSIONS=$SESSIONS (raise the hard limit)"

free_port() {
    local lo=${PORTS%-*} hi=${PORTS#*-} p
    for _ in $(seq 200); do
        p=$((lo + RANDOM % (hi - lo + 1)))
        if ! { exec 9<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
            echo "$p"
            return
        fi
        exec 9>&-
    done
    die "no free port in $PORTS"
}

wait_port() { # PORT PID NAME
    local i
    for i in $(seq 300); do
        if { exec 9<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then
            exec 9>&-
            return
        fi
        kill -0 "$2" 2>/dev/null || die "$3 exited (see $WORK/$3.log)"
        sleep 0.05
    done
    die "$3 does not listen on $1"
}

machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT=${QUIET_WAIT:-600}
wait_quiet() {
    [[ $QUIET_WAIT == 0 ]] && return
    local t0=$SECONDS a b pct said=0
    while :; do
        a=$(machine_busy); sleep 2; b=$(machine_busy)
        pct=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }')
        ((pct < QUIET_PCT)) && return
        if ((SECONDS - t0 > QUIET_WAIT)); then
            log "machine still ${pct}% busy after ${QUIET_WAIT}s: measuring anyway"
            return
        fi
        ((said)) || { log "machine ${pct}% busy (other processes): waiting for it to calm down"; said=1; }
    done
}

# PSS in KiB of a process and its descendants.
pss_tree() {
    local pids="$1 $(pgrep -d ' ' -P "$1" || true)" p sum=0 v
    for p in $pids; do
        v=$(awk '/^Pss:/ { print $2 }' "/proc/$p/smaps_rollup" 2>/dev/null || echo 0)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
median() { sort -g | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else print (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

# ---------------------------------------------------------------- peers
log "binaries: $BIN, $LOAD; work dir $WORK"
log "machine: $(nproc) cores, $(uname -r), websockify $(dpkg-query -W -f '${Version}' websockify 2>/dev/null || echo '?')"
P_SRC=$(free_port)
"$LOAD" serve --listen "127.0.0.1:$P_SRC" --width "$WIDTH" --height "$HEIGHT" >"$WORK/source.log" 2>&1 &
SRC_PID=$!
PIDS+=("$SRC_PID")
wait_port "$P_SRC" "$SRC_PID" source

P_RELAY=$(free_port)
"$LOAD" relay --listen "127.0.0.1:$P_RELAY" --to "127.0.0.1:$P_SRC" >"$WORK/relay.log" 2>&1 &
RELAY_PID=$!
PIDS+=("$RELAY_PID")
wait_port "$P_RELAY" "$RELAY_PID" relay

P_WS=$(free_port)
websockify "127.0.0.1:$P_WS" "127.0.0.1:$P_SRC" >"$WORK/websockify.log" 2>&1 &
WS_PID=$!
PIDS+=("$WS_PID")
wait_port "$P_WS" "$WS_PID" websockify

P_API=$(free_port)
cat >"$WORK/ironrack.toml" <<EOF
# Sessions are opened ahead of their viewers: long-lived tokens.
console_token_ttl = "30m"
console_reconnect_grace = "30m"
power_poll_interval = "off"
EOF
"$BIN" serve --config "$WORK/ironrack.toml" --data-dir "$WORK/data" --listen "127.0.0.1:$P_API" \
    --admin-password "$PW" --log "${IRONRACK_LOG:-warn}" >"$WORK/ironrack.log" 2>&1 &
IR_PID=$!
PIDS+=("$IR_PID")
wait_port "$P_API" "$IR_PID" ironrack
API="http://127.0.0.1:$P_API"
api() { # METHOD PATH [JSON]
    curl -fsS -X "$1" "$API$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -H "X-Ironrack-Pin: $PIN" ${3:+-d "$3"}
}
TOKEN=$(curl -fsS -X POST "$API/api/v1/auth/login" -H 'Content-Type: application/json' \
    -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | jq -r .token)
api PUT /api/v1/me/pin "{\"pin\":\"$PIN\",\"password\":\"$PW\"}" >/dev/null
# A BMC takes at most 64 console sessions: one fake server per 50 idle
# sessions, and one (vnc-0) for the measured streams.
vnc_server() {
    api POST /api/v1/servers "{\"name\":\"vnc-$1\",\"site\":\"local\",\"bmc\":{\"driver\":\"fake\",\"address\":\"10.9.$(($1 / 250)).$(($1 % 250 + 1))\",\"options\":{\"console_max_sessions\":64},\"console\":{\"vnc\":\"127.0.0.1:$P_SRC\"}}}" | jq -r .id
}
STREAM_SERVER=$(vnc_server 0)
NSERVERS=$(((SESSIONS + 49) / 50))
SERVER_IDS=()
for i in $(seq "$NSERVERS"); do SERVER_IDS+=("$(vnc_server "$i")"); done
IDS=$(IFS=,; echo "${SERVER_IDS[*]}")
ironrack_url() { "$LOAD" open --api "$API" --token "$TOKEN" --pin "$PIN" --servers "$STREAM_SERVER" --count 1; }

declare -A URL=([direct]="tcp://127.0.0.1:$P_SRC" [relay]="tcp://127.0.0.1:$P_RELAY"
    [websockify]="ws://127.0.0.1:$P_WS/")
PATHS=(direct relay websockify ironrack)
url_of() { if [[ $1 == ironrack ]]; then ironrack_url; else echo "${URL[$1]}"; fi; }

# ---------------------------------------------------------------- throughput
# CPU ticks of a process and its reaped and live children (websockify forks).
ticks() {
    local sum=0 p f
    for p in $1 $(pgrep -P "$1" || true); do
        f=$(cut -d')' -f2 "/proc/$p/stat" 2>/dev/null) || continue
        set -- $f
        sum=$((sum + ${12} + ${13} + ${14} + ${15}))
    done
    echo "$sum"
}
declare -A PROXY_PID=([relay]=$RELAY_PID [websockify]=$WS_PID [ironrack]=$IR_PID)
declare -A MIBS CPU_MIB
HZ=$(getconf CLK_TCK)
for path in "${PATHS[@]}"; do : >"$WORK/tp-$path"; : >"$WORK/cpu-$path"; done
for r in $(seq "$ROUNDS"); do
    for path in "${PATHS[@]}"; do
        url=$(url_of "$path")
        wait_quiet
        pid=${PROXY_PID[$path]:-}
        t0=$([[ -n $pid ]] && ticks "$pid" || echo 0)
        out=$("$LOAD" throughput --url "$url" --seconds "$DURATION" --depth "$DEPTH")
        t1=$([[ -n $pid ]] && ticks "$pid" || echo 0)
        v=$(awk '{ print $2 }' <<<"$out")
        echo "$v" >>"$WORK/tp-$path"
        # The proxy's CPU per MiB moved: what the machine's other load does not change.
        awk -v t=$((t1 - t0)) -v hz="$HZ" -v m="$v" -v s="$DURATION" 'BEGIN { printf "%.0f\n", t / hz * 1e6 / (m * s) }' >>"$WORK/cpu-$path"
        log "round $r $path: $v MiB/s"
    done
done
for path in "${PATHS[@]}"; do
    MIBS[$path]=$(median <"$WORK/tp-$path")
    CPU_MIB[$path]=$(median <"$WORK/cpu-$path")
done

# ---------------------------------------------------------------- latency
declare -A P50 P99
for path in "${PATHS[@]}"; do
    url=$(url_of "$path")
    wait_quiet
    out=$("$LOAD" latency --url "$url" --count "$LAT_COUNT")
    P50[$path]=$(awk '{ print $3 }' <<<"$out")
    P99[$path]=$(awk '{ print $7 }' <<<"$out")
    log "$path: round trip p50 ${P50[$path]} us, p99 ${P99[$path]} us"
done

# ---------------------------------------------------------------- idle memory
# ironrack: SESSIONS sessions through the API, a viewer on each, in two
# halves. The average over all (the figure checked against the target) also
# carries one-time costs (malloc arenas that keep argon2's 19 MiB per PIN
# check, SQLite caches filling, threads): an upper bound. The second half's
# growth is printed too: a lower bound, as it reuses memory the first half
# freed.
"$LOAD" open --api "$API" --token "$TOKEN" --pin "$PIN" --servers "$STREAM_SERVER" --count 8 \
    --concurrency 4 >/dev/null
wait_quiet
sleep 1
IR_BASE=$(pss_tree "$IR_PID")
IR_RSS0=$(rss_kib "$IR_PID")
HALF=$((SESSIONS / 2))
IDLE_PIDS=()
# open_and_hold N SERVERS NAME: N sessions, a viewer on each; waits until held.
open_and_hold() {
    local t0=$SECONDS pid
    "$LOAD" open --api "$API" --token "$TOKEN" --pin "$PIN" --servers "$2" --count "$1" \
        --concurrency 4 >"$WORK/urls-$3" 2>"$WORK/open-$3.log" || { cat "$WORK/open-$3.log" >&2; die "opening sessions failed"; }
    log "opened $1 console sessions through the API in $((SECONDS - t0)) s"
    "$LOAD" idle --urls "$WORK/urls-$3" --concurrency 64 --seconds 3600 >"$WORK/idle-$3.out" 2>"$WORK/idle-$3.err" &
    pid=$!
    PIDS+=("$pid")
    IDLE_PIDS+=("$pid")
    until grep -q '^ready' "$WORK/idle-$3.out" 2>/dev/null; do
        kill -0 "$pid" 2>/dev/null || { cat "$WORK/idle-$3.err" >&2; die "idle client exited"; }
        sleep 0.5
    done
    log "viewers: $(awk '/^ready/ { print $2 " held, " $4 " failed, in " $6 " s" }' "$WORK/idle-$3.out")"
}
# The halves' servers: the first half of SERVER_IDS, then the rest.
IDS_A=$(IFS=,; echo "${SERVER_IDS[*]:0:$(((NSERVERS + 1) / 2))}")
IDS_B=$(IFS=,; echo "${SERVER_IDS[*]:$(((NSERVERS + 1) / 2))}")
[[ -n $IDS_B ]] || IDS_B=$IDS_A
open_and_hold "$HALF" "$IDS_A" a
sleep 5
IR_HALF=$(pss_tree "$IR_PID")
open_and_hold "$((SESSIONS - HALF))" "$IDS_B" b
# Past one ping round (20 s) so every session has been pinged at least once.
sleep 25
IR_HELD=$(pss_tree "$IR_PID")
IR_RSS1=$(rss_kib "$IR_PID")
HELD=$(($(awk '/^held/ { h = $2 } END { print h + 0 }' "$WORK/idle-a.out") + $(awk '/^held/ { h = $2 } END { print h + 0 }' "$WORK/idle-b.out")))
LIVE=$(sqlite3 "$WORK/data/ironrack.db" "SELECT count(*) FROM console_sessions WHERE state = 'live' AND viewers >= 1")
log "after 25 s: the clients hold $HELD, the store has $LIVE live sessions with a viewer"
for p in "${IDLE_PIDS[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done

# websockify: WS_SESSIONS idle connections (each a forked process).
for _ in $(seq "$WS_SESSIONS"); do echo "ws://127.0.0.1:$P_WS/"; done >"$WORK/ws-urls"
WS_BASE=$(pss_tree "$WS_PID")
"$LOAD" idle --urls "$WORK/ws-urls" --concurrency 8 --seconds 3600 >"$WORK/ws-idle.out" 2>"$WORK/ws-idle.err" &
WSI_PID=$!
PIDS+=("$WSI_PID")
until grep -q '^ready' "$WORK/ws-idle.out" 2>/dev/null; do
    kill -0 "$WSI_PID" 2>/dev/null || { cat "$WORK/ws-idle.err" >&2; die "idle client exited"; }
    sleep 0.5
done
sleep 3
WS_HELD=$(pss_tree "$WS_PID")
WS_N=$(awk '/^ready/ { print $2 }' "$WORK/ws-idle.out")
kill "$WSI_PID" 2>/dev/null || true
wait "$WSI_PID" 2>/dev/null || true

# ---------------------------------------------------------------- table
f() { awk "BEGIN { printf \"$1\", $2 }"; }
D=${MIBS[direct]}
IR=${MIBS[ironrack]}
WSY=${MIBS[websockify]}
PER_IR=$(f %.1f "($IR_HELD - $IR_HALF) / ($SESSIONS - $HALF)")
PER_IR_ALL=$(f %.1f "($IR_HELD - $IR_BASE) / $SESSIONS")
PER_WS=$(f %.0f "($WS_HELD - $WS_BASE) / ${WS_N:-1}")
pass() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
# An added latency below zero is the machine's noise, not a result.
lat() { if awk "BEGIN { exit !($1 < 0) }"; then echo "n/a (noise)"; else pass "$1 < $2"; fi; }
add50=$(f %.1f "${P50[ironrack]} - ${P50[direct]}")
add99=$(f %.1f "${P99[ironrack]} - ${P99[direct]}")
wadd50=$(f %.1f "${P50[websockify]} - ${P50[direct]}")
wadd99=$(f %.1f "${P99[websockify]} - ${P99[direct]}")

echo
echo "One VNC stream, ${WIDTH}x${HEIGHT}x32 raw updates, $DEPTH in flight, ${DURATION}s x $ROUNDS rounds (median); $LAT_COUNT round trips of a 1x1 update"
echo
printf '| %-10s | %12s | %9s | %16s | %12s | %12s |\n' path "MiB/s" "x direct" "proxy CPU us/MiB" "rtt p50 us" "rtt p99 us"
printf '|%s|%s|%s|%s|%s|%s|\n' ------------ -------------- ----------- ------------------ -------------- --------------
for path in "${PATHS[@]}"; do
    cpu=${CPU_MIB[$path]}
    [[ $path == direct ]] && cpu="-"
    printf '| %-10s | %12.1f | %9.2f | %16s | %12.1f | %12.1f |\n' "$path" "${MIBS[$path]}" \
        "$(f %.4f "${MIBS[$path]} / $D")" "$cpu" "${P50[$path]}" "${P99[$path]}"
done
echo
printf '| %-44s | %-22s | %-14s | %s\n' target ironrack websockify result
printf '|%s|%s|%s|%s\n' ---------------------------------------------- ------------------------ ---------------- ------
printf '| %-44s | %-22s | %-14s | %s\n' "bytes/s >= 0.9x direct" "$(f %.2f "$IR / $D")x" "$(f %.2f "$WSY / $D")x" "$(pass "$IR >= 0.9 * $D")"
printf '| %-44s | %-22s | %-14s | %s\n' "bytes/s >= 2.5x websockify" "$(f %.2f "$IR / $WSY")x" "" "$(pass "$IR >= 2.5 * $WSY")"
printf '| %-44s | %-22s | %-14s | %s\n' "added latency p50 < 50 us" "$add50 us" "$wadd50 us" "$(lat "$add50" 50)"
printf '| %-44s | %-22s | %-14s | %s\n' "added latency p99 < 200 us" "$add99 us" "$wadd99 us" "$(lat "$add99" 200)"
printf '| %-44s | %-22s | %-14s | %s\n' "PSS per idle session < 100 KiB" "$PER_IR_ALL KiB" "$PER_WS KiB" "$(pass "$PER_IR_ALL < 100")"
printf '| %-44s | %-22s | %-14s | %s\n' "$SESSIONS concurrent idle sessions held" "$HELD (store: $LIVE)" "" "$(pass "$HELD >= $SESSIONS && $LIVE >= $SESSIONS")"
echo
echo "ironrack PSS: ${IR_BASE} KiB before, ${IR_HALF} KiB with $HALF idle sessions, ${IR_HELD} KiB with $SESSIONS (per session: ${PER_IR_ALL} KiB averaged over all, one-time costs included; ${PER_IR} KiB over the second half, which reuses memory the first freed); RSS ${IR_RSS0} -> ${IR_RSS1} KiB"
echo "websockify PSS: ${WS_BASE} KiB idle, ${WS_HELD} KiB with ${WS_N} idle connections (one forked process each)"
if awk "BEGIN { exit !(${P99[direct]} > 5 * ${P50[direct]}) }"; then
    echo "note: direct p99 is more than 5x its p50: other load on the machine; the latency rows are not meaningful"
fi
echo "relay: a plain TCP copy proxy (tokio copy_bidirectional, 256 KiB buffers): the floor any user-space proxy pays here"
