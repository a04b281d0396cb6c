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
# Each throughput run also reports, over its measured window, where the
# time went: the CPU (user + sys) per MiB of the client, the RFB server and
# the proxy, the share of the run each spent on a CPU or runnable but
# waiting for one (the scheduler's /proc/PID/task/*/schedstat), and the
# machine's busy cores; from these the table says what bounds each path
# and what bytes/s its CPU per MiB allows (the machine's other load changes
# MiB/s much more than CPU per MiB).
# Then idle memory: SESSIONS console sessions opened through the API and held
# by viewers that finished the RFB handshake (ironrack's PSS growth per
# session over the second half of them), and WS_SESSIONS idle websockify
# connections (websockify forks per connection: PSS of it and its
# children). Prints the tables and the targets.
#
# Usage:  bench/console.sh                         (builds the release binaries)
#         IRONRACK_BIN=... LOAD_BIN=... bench/console.sh
#         DURATION=3 ROUNDS=1 SESSIONS=500 bench/console.sh     (quick look)
#         COMPARE_BIN=old/ironrack MEMORY=0 bench/console.sh    (before/after)
# Knobs: DURATION (s per throughput run, 5), ROUNDS (3, medians of throughput
# and latency), DEPTH (update requests in flight, 2), LAT_COUNT (round trips,
# 20000), SESSIONS (5000), WS_SESSIONS (50), MEMORY (0: skip the idle
# sessions), COMPARE_BIN (a second ironrack measured as path `compare` in
# the same run), WIDTH×HEIGHT (1024×768), PORTS (range for free ports,
# 20000-60000), QUIET_PCT/QUIET_WAIT (wait for an idle machine), KEEP=1,
# CLIENT (rust: console_load, one thread, not the bottleneck; python:
# bench/console_client.py, the kind of client the issue measured with).
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
MEMORY=${MEMORY:-1}
COMPARE_BIN=${COMPARE_BIN:-}
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
# The viewer of the throughput and latency runs.
case ${CLIENT:=rust} in
rust) VIEWER=("$LOAD") ;;
python) VIEWER=(python3 "$REPO/bench/console_client.py") ;;
*) die "CLIENT=$CLIENT: rust or python" ;;
esac

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
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "load average: $LOAD_BEFORE"
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

cat >"$WORK/ironrack.toml" <<EOF
# Sessions are opened ahead of their viewers: long-lived tokens.
console_token_ttl = "30m"
console_reconnect_grace = "30m"
power_poll_interval = "off"
EOF
api() { # METHOD PATH [JSON], on the instance in API with TOKEN
    curl -fsS -X "$1" "$API$2" -H "Authorization: Bearer $TOKEN" -H 'Content-Type: application/json' \
        -H "X-Ironrack-Pin: $PIN" ${3:+-d "$3"}
}
# A BMC takes at most 64 console sessions: one fake server per 50 idle
# sessions, and one (vnc-0) for the measured streams.
vnc_server() {
    api POST /api/v1/servers "{\"name\":\"vnc-$1\",\"site\":\"local\",\"bmc\":{\"driver\":\"fake\",\"address\":\"10.9.$(($1 / 250)).$(($1 % 250 + 1))\",\"options\":{\"console_max_sessions\":64},\"console\":{\"vnc\":\"127.0.0.1:$P_SRC\"}}}" | jq -r .id
}
declare -A IR_PIDS IR_API IR_TOKEN IR_STREAM
# start_ironrack NAME BIN: `ironrack serve` (data in $WORK/data-NAME) with
# the admin's PIN set and one server for the measured streams; leaves API
# and TOKEN set to it.
start_ironrack() {
    local port
    port=$(free_port)
    "$2" serve --config "$WORK/ironrack.toml" --data-dir "$WORK/data-$1" --listen "127.0.0.1:$port" \
        --admin-password "$PW" --log "${IRONRACK_LOG:-warn}" >"$WORK/$1.log" 2>&1 &
    IR_PIDS[$1]=$!
    PIDS+=("$!")
    wait_port "$port" "${IR_PIDS[$1]}" "$1"
    API="http://127.0.0.1:$port"
    TOKEN=$(curl -fsS -X POST "$API/api/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | jq -r .token)
    api PUT /api/v1/me/pin "{\"pin\":\"$PIN\",\"password\":\"$PW\"}" >/dev/null
    IR_API[$1]=$API
    IR_TOKEN[$1]=$TOKEN
    IR_STREAM[$1]=$(vnc_server 0)
}
# COMPARE_BIN: a second ironrack (e.g. an older build) measured in the same
# run as path `compare`, for a before/after under the same load.
[[ -z $COMPARE_BIN ]] || start_ironrack compare "$COMPARE_BIN"
start_ironrack ironrack "$BIN"
IR_PID=${IR_PIDS[ironrack]}
STREAM_SERVER=${IR_STREAM[ironrack]}
NSERVERS=$(((SESSIONS + 49) / 50))
SERVER_IDS=()
for i in $(seq "$NSERVERS"); do SERVER_IDS+=("$(vnc_server "$i")"); done

declare -A URL=([direct]="tcp://127.0.0.1:$P_SRC" [relay]="tcp://127.0.0.1:$P_RELAY"
    [websockify]="ws://127.0.0.1:$P_WS/")
PATHS=(direct relay websockify ironrack)
[[ -z $COMPARE_BIN ]] || PATHS+=(compare)
url_of() {
    case $1 in
    ironrack | compare)
        "$LOAD" open --api "${IR_API[$1]}" --token "${IR_TOKEN[$1]}" --pin "$PIN" --servers "${IR_STREAM[$1]}" --count 1
        ;;
    *) echo "${URL[$1]}" ;;
    esac
}

# ---------------------------------------------------------------- throughput
# Each run reports, over its measured window, for the client, the RFB
# server and the proxy (children included): CPU ticks (user + sys), and
# from the scheduler the time on a CPU and the time runnable but waiting
# for one; and the machine's busy, steal and total ticks (/proc/stat).
declare -A PROXY_PID=([relay]=$RELAY_PID [websockify]=$WS_PID [ironrack]=$IR_PID
    [compare]=${IR_PIDS[compare]:-})
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)
# field NAME <<<"line": the value after NAME.
field() { awk -v k="$1" '{ for (i = 1; i < NF; i++) if ($i == k) { print $(i + 1); exit } }'; }
# One row per run: MiB/s; us of CPU per MiB for client, server, proxy, their
# sum, the machine; the machine's busy and steal cores; % of the window on
# a CPU for client, server, proxy; % waiting for a CPU for the same; KiB per
# read in the client; the cores busy with anything else (other load).
COLS=(mib cli srv proxy sum machine busy steal run_cli run_srv run_proxy wait_cli wait_srv wait_proxy kib_read others)
row() {
    awk -v hz="$HZ" -v n="$NCPU" '{
        for (i = 1; i < NF; i += 2) v[$i] = $(i + 1)
        m = v["throughput_mib_s"] * v["seconds"]; u = 1e6 / hz / m; w = v["seconds"] * 1e4
        c = v["client_ticks"]; sv = v["server_ticks"]; p = v["proxy_ticks"] + 0
        printf "%s %.0f %.0f %.0f %.0f %.0f %.2f %.2f", v["throughput_mib_s"], c * u, sv * u, p * u, (c + sv + p) * u,
            v["machine_busy_ticks"] * u, v["machine_busy_ticks"] / v["machine_total_ticks"] * n,
            v["machine_steal_ticks"] / v["machine_total_ticks"] * n
        ours = (v["client_run_us"] + v["server_run_us"] + v["proxy_run_us"]) / w / 100
        printf " %.0f %.0f %.0f %.0f %.0f %.0f %.0f %.2f\n", v["client_run_us"] / w, v["server_run_us"] / w, v["proxy_run_us"] / w,
            v["client_wait_us"] / w, v["server_wait_us"] / w, v["proxy_wait_us"] / w, m * 1024 / v["reads"],
            v["machine_busy_ticks"] / v["machine_total_ticks"] * n - ours
    }'
}
for path in "${PATHS[@]}"; do : >"$WORK/tp-$path"; done
for r in $(seq "$ROUNDS"); do
    for path in "${PATHS[@]}"; do
        url=$(url_of "$path")
        wait_quiet
        pid=${PROXY_PID[$path]:-}
        "${VIEWER[@]}" throughput --url "$url" --seconds "$DURATION" --depth "$DEPTH" \
            --watch "server=$SRC_PID${pid:+,proxy=$pid}" | row >>"$WORK/tp-$path"
        log "round $r $path: $(tail -1 "$WORK/tp-$path" | awk '{ printf "%s MiB/s; us/MiB client %s server %s proxy %s sum %s; on CPU %s/%s/%s %%, waiting %s/%s/%s %%; other load %s cores", $1, $2, $3, $4, $5, $9, $10, $11, $12, $13, $14, $16 }')"
    done
done
# V[path,column]: the median over the rounds.
declare -A V
for path in "${PATHS[@]}"; do
    for i in "${!COLS[@]}"; do
        V[$path,${COLS[$i]}]=$(awk -v i=$((i + 1)) '{ print $i }' "$WORK/tp-$path" | median)
    done
done

# ---------------------------------------------------------------- latency
declare -A P50 P99
for path in "${PATHS[@]}"; do : >"$WORK/lat-$path"; done
for r in $(seq "$ROUNDS"); do
    for path in "${PATHS[@]}"; do
        url=$(url_of "$path")
        wait_quiet
        out=$("${VIEWER[@]}" latency --url "$url" --count "$LAT_COUNT")
        echo "$(field p50 <<<"$out") $(field p99 <<<"$out")" >>"$WORK/lat-$path"
        log "round $r $path: round trip p50 $(field p50 <<<"$out") us, p99 $(field p99 <<<"$out") us"
    done
done
for path in "${PATHS[@]}"; do
    P50[$path]=$(awk '{ print $1 }' "$WORK/lat-$path" | median)
    P99[$path]=$(awk '{ print $2 }' "$WORK/lat-$path" | median)
done

# ---------------------------------------------------------------- idle memory
measure_memory() {
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
    LIVE=$(sqlite3 "$WORK/data-ironrack/ironrack.db" "SELECT count(*) FROM console_sessions WHERE state = 'live' AND viewers >= 1")
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
}
if ((MEMORY)); then measure_memory; fi

# ---------------------------------------------------------------- table
f() { awk "BEGIN { printf \"$1\", $2 }"; }
D=${V[direct,mib]}
IR=${V[ironrack,mib]}
WSY=${V[websockify,mib]}
pass() { if awk "BEGIN { exit !($1) }"; then echo PASS; else echo MISS; fi; }
# An added latency below zero is the machine's noise, not a result.
lat() { if awk "BEGIN { exit !($1 < 0) }"; then echo "n/a (noise)"; else pass "$1 < $2"; fi; }
add50=$(f %.1f "${P50[ironrack]} - ${P50[direct]}")
add99=$(f %.1f "${P99[ironrack]} - ${P99[direct]}")
wadd50=$(f %.1f "${P50[websockify]} - ${P50[direct]}")
wadd99=$(f %.1f "${P99[websockify]} - ${P99[direct]}")
# The most bytes/s a path's CPU per MiB allows with every core busy.
cap() { f %.0f "$NCPU * 1e6 / ${V[$1,sum]}"; }

echo
echo "One VNC stream ($CLIENT client), ${WIDTH}x${HEIGHT}x32 raw updates, $DEPTH in flight, ${DURATION}s x $ROUNDS rounds; $LAT_COUNT round trips of a 1x1 update x $ROUNDS rounds; medians. Load average before: $LOAD_BEFORE"
echo
printf '| %-10s | %9s | %8s | %10s | %10s |\n' path "MiB/s" "x direct" "rtt p50 us" "rtt p99 us"
printf '|%s|%s|%s|%s|%s|\n' ------------ ----------- ---------- ------------ ------------
for path in "${PATHS[@]}"; do
    printf '| %-10s | %9.1f | %8.2f | %10.1f | %10.1f |\n' "$path" "${V[$path,mib]}" \
        "$(f %.4f "${V[$path,mib]} / $D")" "${P50[$path]}" "${P99[$path]}"
done
echo
echo "Where the time goes (client / RFB server / proxy): CPU (user + sys) per MiB moved; share of the run each spent on a CPU and runnable but waiting for one (scheduler); cores busy with other load (/proc/stat's busy minus these three); the bytes/s the path's CPU per MiB allows with all $NCPU cores busy"
echo
printf '| %-10s | %-24s | %-17s | %-17s | %7s | %-20s |\n' path "CPU us/MiB c/s/p = sum" "on a CPU % c/s/p" "waiting % c/s/p" "others" "CPU allows (x direct)"
printf '|%s|%s|%s|%s|%s|%s|\n' ------------ -------------------------- ------------------- ------------------- --------- ----------------------
for path in "${PATHS[@]}"; do
    p=${V[$path,proxy]} rp=${V[$path,run_proxy]} wp=${V[$path,wait_proxy]}
    [[ $path == direct ]] && p=- rp=- wp=-
    printf '| %-10s | %-24s | %-17s | %-17s | %7s | %-20s |\n' "$path" \
        "${V[$path,cli]}/${V[$path,srv]}/$p = ${V[$path,sum]}" \
        "${V[$path,run_cli]}/${V[$path,run_srv]}/$rp" "${V[$path,wait_cli]}/${V[$path,wait_srv]}/$wp" \
        "${V[$path,others]}" "$(cap "$path") ($(f %.2f "$(cap "$path") / $D"))"
done
echo
# What bounds each path: a process runnable (on a CPU or waiting for one)
# nearly all the run is the one the others wait for; if it waited for a
# CPU much of it, the cores (other load included) held it back.
for path in "${PATHS[@]}"; do
    awk -v path="$path" -v n="$NCPU" -v names="client server proxy" \
        -v run="${V[$path,run_cli]} ${V[$path,run_srv]} ${V[$path,run_proxy]}" \
        -v wait="${V[$path,wait_cli]} ${V[$path,wait_srv]} ${V[$path,wait_proxy]}" 'BEGIN {
        split(names, nm, " "); split(run, r, " "); split(wait, w, " ")
        k = path == "direct" ? 2 : 3; top = 1; oncpu = 0; wt = 0; line = ""
        for (i = 1; i <= k; i++) {
            if (r[i] + w[i] > r[top] + w[top]) top = i
            oncpu += r[i]; wt += w[i]
            line = line sprintf("%s%s runnable %d%% (on a CPU %d%%)", i > 1 ? ", " : "", nm[i], r[i] + w[i], r[i])
        }
        printf "%s: %s; together on a CPU %d%% of %d%%: ", path, line, oncpu, 100 * n
        if (r[top] + w[top] >= 90) {
            printf "bound by the %s%s\n", nm[top], w[top] >= 10 ? sprintf(", which waited for a CPU %d%% of the run", w[top]) : "'"'"'s own work"
        } else if (oncpu + wt >= 90 * n) {
            printf "bound by the cores (runnable %d%% together, waiting for a CPU %d%%)\n", oncpu + wt, wt
        } else {
            print "no process saturated: bound by the hand-offs between them"
        }
    }'
done
echo "ironrack's CPU per MiB allows at most $(f %.2f "$(cap ironrack) / $D")x direct and $(f %.2f "${V[websockify,sum]} / ${V[ironrack,sum]}")x websockify's bytes/s when the cores are the bound; its client and server alone (a proxy costing nothing) $(f %.2f "$NCPU * 1e6 / (${V[ironrack,sum]} - ${V[ironrack,proxy]}) / $D")x direct."
echo
printf '| %-44s | %-22s | %-14s | %s\n' target ironrack websockify result
printf '|%s|%s|%s|%s\n' ---------------------------------------------- ------------------------ ---------------- ------
printf '| %-44s | %-22s | %-14s | %s\n' "bytes/s >= 0.9x direct" "$(f %.2f "$IR / $D")x" "$(f %.2f "$WSY / $D")x" "$(pass "$IR >= 0.9 * $D")"
printf '| %-44s | %-22s | %-14s | %s\n' "bytes/s >= 2.5x websockify" "$(f %.2f "$IR / $WSY")x" "" "$(pass "$IR >= 2.5 * $WSY")"
printf '| %-44s | %-22s | %-14s | %s\n' "added latency p50 < 50 us" "$add50 us" "$wadd50 us" "$(lat "$add50" 50)"
printf '| %-44s | %-22s | %-14s | %s\n' "added latency p99 < 200 us" "$add99 us" "$wadd99 us" "$(lat "$add99" 200)"
if ((MEMORY)); then
    PER_IR=$(f %.1f "($IR_HELD - $IR_HALF) / ($SESSIONS - $HALF)")
    PER_IR_ALL=$(f %.1f "($IR_HELD - $IR_BASE) / $SESSIONS")
    PER_WS=$(f %.0f "($WS_HELD - $WS_BASE) / ${WS_N:-1}")
    printf '| %-44s | %-22s | %-14s | %s\n' "PSS per idle session < 100 KiB" "$PER_IR_ALL KiB" "$PER_WS KiB" "$(pass "$PER_IR_ALL < 100")"
    printf '| %-44s | %-22s | %-14s | %s\n' "$SESSIONS concurrent idle sessions held" "$HELD (store: $LIVE)" "" "$(pass "$HELD >= $SESSIONS && $LIVE >= $SESSIONS")"
    echo
    echo "ironrack PSS: ${IR_BASE} KiB before, ${IR_HALF} KiB with $HALF idle sessions, ${IR_HELD} KiB with $SESSIONS (per session: ${PER_IR_ALL} KiB averaged over all, one-time costs included; ${PER_IR} KiB over the second half, which reuses memory the first freed); RSS ${IR_RSS0} -> ${IR_RSS1} KiB"
    echo "websockify PSS: ${WS_BASE} KiB idle, ${WS_HELD} KiB with ${WS_N} idle connections (one forked process each)"
fi
if awk "BEGIN { exit !(${P99[direct]} > 5 * ${P50[direct]}) }"; then
    echo "note: direct p99 is more than 5x its p50: other load on the machine; the latency rows are not meaningful"
fi
echo "relay: a plain TCP copy proxy (tokio copy_bidirectional, 256 KiB buffers): the floor any user-space proxy pays here"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
