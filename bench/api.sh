#!/usr/bin/env bash
# bench/api.sh: throughput, latency, cold start and memory of `ironrack serve`
# with 100,000 servers in the store (SQLite, plus a PostgreSQL row).
#
# Usage:   bench/api.sh                 (from anywhere; builds the release binary)
#          IRONRACK_BIN=/path/ironrack bench/api.sh
#
# Knobs (environment):
#   IRONRACK_BIN      use this binary instead of building one
#   CARGO_TARGET_DIR  where `cargo build --release -p ironrack` puts it
#                     (default: /work/target-bench)
#   SERVERS=100000    servers in the store
#   API_SEED=500      of which this many are created through POST /api/v1/servers
#   DURATION=20s      wrk duration of the main rows (diagnostic rows: DIAG_DURATION=10s)
#   THREADS=2 CONNS=32  wrk -t / -c
#   COLD_RUNS=10      starts per cold-start median
#   PG=1              also measure PostgreSQL (PG=0 to skip)
#   PG_HOST=127.0.0.1 PG_USER=postgres  (trust auth; a database is created and dropped)
#   KEEP=0            KEEP=1 keeps the temp dir (data dirs, logs, wrk output)
#
# Everything this script starts is stopped by PID on exit.
set -euo pipefail

SERVERS=${SERVERS:-100000}
API_SEED=${API_SEED:-500}
DURATION=${DURATION:-20s}
DIAG_DURATION=${DIAG_DURATION:-10s}
THREADS=${THREADS:-2}
CONNS=${CONNS:-32}
COLD_RUNS=${COLD_RUNS:-10}
PG=${PG:-1}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_USER=${PG_USER:-postgres}
KEEP=${KEEP:-0}
PW=bench-admin-pw

# Targets of the issue.
T_RPS=5000      # req/s, GET /api/v1/servers?limit=100
T_P99=20        # ms
T_COLD=200      # ms
T_RSS=30        # MB

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=$(mktemp -d /tmp/ironrack-bench.XXXXXX)
PIDS=()
PG_DB=""

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [[ -n $PG_DB ]]; then
        dropdb -h "$PG_HOST" -U "$PG_USER" --if-exists "$PG_DB" 2>/dev/null || true
    fi
    if [[ $KEEP == 1 ]]; then
        log "kept $WORK"
    else
        rm -rf "$WORK"
    fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# ---------------------------------------------------------------- tools
need_pkgs=()
command -v wrk >/dev/null || need_pkgs+=(wrk)
command -v sqlite3 >/dev/null || need_pkgs+=(sqlite3)
command -v curl >/dev/null || need_pkgs+=(curl)
command -v jq >/dev/null || need_pkgs+=(jq)
if [[ $PG == 1 ]] && ! command -v psql >/dev/null; then need_pkgs+=(postgresql-client); fi
if ((${#need_pkgs[@]})); then
    log "installing ${need_pkgs[*]}"
    if ! apt-get install -y -q "${need_pkgs[@]}" >/dev/null 2>&1; then
        apt-get update -q >/dev/null
        apt-get install -y -q "${need_pkgs[@]}" >/dev/null
    fi
fi

# ---------------------------------------------------------------- binary
if [[ -n ${IRONRACK_BIN:-} ]]; then
    BIN=$IRONRACK_BIN
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
    log "building: (cd $REPO && CARGO_TARGET_DIR=$CARGO_TARGET_DIR cargo build --release -p ironrack)"
    (cd "$REPO" && cargo build --release -q -p ironrack)
    BIN=$CARGO_TARGET_DIR/release/ironrack
fi
[[ -x $BIN ]] || die "no binary at $BIN"

# ---------------------------------------------------------------- helpers
free_port() {
    local p
    for _ in $(seq 200); do
        p=$((20000 + RANDOM % 40000))
        if ! { exec 9<>"/dev/tcp/127.0.0.1/$p"; } 2>/dev/null; then
            echo "$p"
            return
        fi
        exec 9>&-
    done
    die "no free port"
}

# HTTP status of GET /api/v1/health, in-process (no fork): "" if nothing listens.
health_status() {
    local port=$1 line=""
    { exec 8<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null || return 1
    printf 'GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' >&8
    IFS=' ' read -r -t 2 _ line _ <&8 || true
    exec 8>&-
    [[ $line == 200 ]]
}

# start_server DATA_DIR PORT [extra args...]: sets SERVER_PID and START_MS
# (exec -> first 200 on /api/v1/health, measured in-shell with EPOCHREALTIME).
start_server() {
    local dir=$1 port=$2
    shift 2
    local t0 t1
    t0=$EPOCHREALTIME
    "$BIN" serve --data-dir "$dir" --listen "127.0.0.1:$port" --admin-password "$PW" \
        --log "${IRONRACK_LOG:-warn,ironrack=info}" "$@" >>"$dir.log" 2>&1 &
    SERVER_PID=$!
    PIDS+=("$SERVER_PID")
    until health_status "$port"; do
        kill -0 "$SERVER_PID" 2>/dev/null || { cat "$dir.log" >&2; die "ironrack exited"; }
        # read -t on a FIFO nobody writes: a 1 ms sleep without forking
        read -r -t 0.001 <&7 || true
        if (($(us_since "$t0") > 30000000)); then die "no health after 30 s"; fi
    done
    t1=$EPOCHREALTIME
    START_MS=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", (b - a) * 1000 }')
}

us_since() {
    local a=${1/./} b=${EPOCHREALTIME/./}
    echo $((10#$b - 10#$a))
}

stop_server() {
    local pid=$1
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
}

# "busy_jiffies total_jiffies" of the whole machine
machine_busy() { awk '/^cpu / { print $2 + $3 + $4 + $7 + $8 + $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9 }' /proc/stat; }
proc_ticks() { awk '{ sub(/.*\) /, ""); print $12 + $13 }' "/proc/$1/stat"; }

# Other processes (a colleague's cargo build...) skew every figure here: wait
# until the machine is idle (< QUIET_PCT % busy over 2 s), at most QUIET_WAIT s.
QUIET_PCT=${QUIET_PCT:-15}
QUIET_WAIT=${QUIET_WAIT:-600}
wait_quiet() {
    [[ $QUIET_WAIT == 0 ]] && return
    local t0=$EPOCHREALTIME a b pct said=0
    while :; do
        a=$(machine_busy); sleep 2; b=$(machine_busy)
        pct=$(awk -v a="$a" -v b="$b" 'BEGIN { split(a, x, " "); split(b, y, " "); printf "%.0f", 100 * (y[1] - x[1]) / (y[2] - x[2]) }')
        ((pct < QUIET_PCT)) && return
        if (($(us_since "$t0") > QUIET_WAIT * 1000000)); then
            log "machine still ${pct}% busy after ${QUIET_WAIT}s: measuring anyway (see 'other load')"
            return
        fi
        ((said)) || { log "machine ${pct}% busy (other processes): waiting for it to calm down"; said=1; }
    done
}

rss_mb() { awk '/^VmRSS:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }
hwm_mb() { awk '/^VmHWM:/ { printf "%.1f", $2 / 1024 }' "/proc/$1/status"; }

median() { sort -n | awk '{ a[NR] = $1 } END { if (NR % 2) print a[(NR + 1) / 2]; else printf "%.1f\n", (a[NR / 2] + a[NR / 2 + 1]) / 2 }'; }

login() {
    local port=$1
    curl -fsS -X POST "http://127.0.0.1:$port/api/v1/auth/login" -H 'Content-Type: application/json' \
        -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | jq -r .token
}

api() { # api PORT TOKEN METHOD PATH [JSON]
    local port=$1 token=$2 method=$3 path=$4
    curl -fsS -X "$method" "http://127.0.0.1:$port$path" -H "Authorization: Bearer $token" \
        -H 'Content-Type: application/json' ${5:+-d "$5"}
}

# Seeds API_SEED servers through POST /api/v1/servers (8 in parallel): bench-000001..
api_seed() {
    local port=$1 token=$2 t0
    api "$port" "$token" POST /api/v1/sites '{"name":"bench","location":"bench rack"}' >/dev/null
    t0=$EPOCHREALTIME
    seq 1 "$API_SEED" | xargs -P 8 -I{} sh -c '
        i={}; n=$(printf "%06d" "$i")
        m=$(printf "02:00:00:%02x:%02x:%02x" $(( (i >> 16) & 255 )) $(( (i >> 8) & 255 )) $(( i & 255 )))
        curl -fsS -o /dev/null -X POST "http://127.0.0.1:'"$port"'/api/v1/servers" \
          -H "Authorization: Bearer '"$token"'" -H "Content-Type: application/json" \
          -d "{\"name\":\"bench-$n\",\"site\":\"bench\",\"macs\":[\"$m\"],\"bmc\":{\"driver\":\"fake\",\"address\":\"10.0.0.1\",\"username\":\"u\",\"password\":\"p\"}}"'
    API_SEED_RATE=$(awk -v n="$API_SEED" -v us="$(us_since "$t0")" 'BEGIN { printf "%.0f", n / (us / 1e6) }')
    log "seeded $API_SEED servers through the API ($API_SEED_RATE servers/s with curl x8)"
}

# The rest, in one transaction, in the column shapes the API writes:
# macs JSON text, bmc_options '{}', bmc_password NULL, times Unix ms.
SQL_SEED_SQLITE="
BEGIN;
WITH RECURSIVE seq(i) AS (SELECT $((API_SEED + 1)) UNION ALL SELECT i + 1 FROM seq WHERE i < $SERVERS)
INSERT INTO servers (name, site_id, tenant_id, macs, bmc_driver, bmc_address, bmc_port,
                     bmc_username, bmc_password, bmc_options, power_state, power_observed_at,
                     created_at, updated_at)
SELECT printf('bench-%06d', i), (SELECT id FROM sites WHERE name = 'bench'), NULL,
       json_array(printf('02:00:00:%02x:%02x:%02x', (i >> 16) & 255, (i >> 8) & 255, i & 255)),
       'fake', '10.0.0.1', 623, 'u', NULL, '{}', 'unknown', NULL,
       CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER),
       CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)
FROM seq;
COMMIT;"

SQL_SEED_PG="
BEGIN;
INSERT INTO servers (name, site_id, tenant_id, macs, bmc_driver, bmc_address, bmc_port,
                     bmc_username, bmc_password, bmc_options, power_state, power_observed_at,
                     created_at, updated_at)
SELECT 'bench-' || lpad(i::text, 6, '0'), (SELECT id FROM sites WHERE name = 'bench'), NULL,
       '[\"02:00:00:' || lpad(to_hex((i >> 16) & 255), 2, '0') || ':' || lpad(to_hex((i >> 8) & 255), 2, '0')
           || ':' || lpad(to_hex(i & 255), 2, '0') || '\"]',
       'fake', '10.0.0.1', 623, 'u', NULL, '{}', 'unknown', NULL,
       (extract(epoch from now()) * 1000)::bigint, (extract(epoch from now()) * 1000)::bigint
FROM generate_series($((API_SEED + 1)), $SERVERS) AS i;
COMMIT;"

# run_wrk NAME DURATION URL [header...]: appends "NAME rps p50 p99 errors" to $WORK/wrk.tsv
run_wrk() {
    local name=$1 dur=$2 url=$3
    shift 3
    local out=$WORK/wrk-$name.txt
    local args=(-t"$THREADS" -c"$CONNS" -d"$dur" --latency) shown="wrk -t$THREADS -c$CONNS -d$dur --latency"
    for h in "$@"; do
        args+=(-H "$h")
        shown+=" -H \"${h/"$TOKEN"/\$TOKEN}\""
    done
    WRK_CMDS+=("$shown '$url'   # $name")
    wait_quiet
    local s0 p0 s1 p1 hz reqs
    hz=$(getconf CLK_TCK)
    s0=$(machine_busy)
    p0=$(proc_ticks "$SERVER_PID")
    # `times` in the subshell reports wrk's own CPU (children's user and sys).
    (wrk "${args[@]}" "$url" >"$out"; times >"$out.times")
    s1=$(machine_busy)
    p1=$(proc_ticks "$SERVER_PID")
    reqs=$(awk '/requests in/ { print $1 }' "$out")
    local wrk_s
    wrk_s=$(awk 'NR == 2 { for (i = 1; i <= 2; i++) { split($i, a, "m"); sub("s", "", a[2]); t += a[1] * 60 + a[2] } } END { print t + 0 }' "$out.times")
    # server CPU per request; CPU of everything else (neither ironrack nor wrk) in cores
    local cpu_req other
    cpu_req=$(awk -v d="$((p1 - p0))" -v hz="$hz" -v n="$reqs" 'BEGIN { printf "%.0f", d / hz / n * 1e6 }')
    other=$(awk -v a="$s0" -v b="$s1" -v d="$((p1 - p0))" -v hz="$hz" -v w="$wrk_s" -v CORES="$(nproc)" '
        BEGIN { split(a, x, " "); split(b, y, " "); el = (y[2] - x[2]) / hz / CORES;
                o = ((y[1] - x[1]) / hz - d / hz - w) / el; if (o < 0) o = 0; printf "%.2f", o }')
    local rps p50 p99 errs
    rps=$(awk '/^Requests\/sec:/ { printf "%.0f", $2 }' "$out")
    p50=$(awk '$1 == "50%" { print $2 }' "$out" | to_ms)
    p99=$(awk '$1 == "99%" { print $2 }' "$out" | to_ms)
    errs=$(awk '/Non-2xx or 3xx responses:/ { n += $NF } /Socket errors:/ { gsub(",", ""); n += $4 + $6 + $8 + $10 } END { print n + 0 }' "$out")
    printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$name" "$rps" "$p50" "$p99" "$errs" "$cpu_req" "$other" >>"$WORK/wrk.tsv"
    log "$name: $rps req/s, p50 $p50 ms, p99 $p99 ms, non-2xx/errors $errs, server CPU $cpu_req us/req, other load $other cores"
}

to_ms() {
    awk '{ v = $1; if (v ~ /us$/) { sub("us", "", v); v /= 1000 } else if (v ~ /ms$/) { sub("ms", "", v) } else if (v ~ /m$/) { sub("m", "", v); v *= 60000 } else if (v ~ /s$/) { sub("s", "", v); v *= 1000 } printf "%.2f", v }'
}

wrk_field() { awk -F'\t' -v n="$1" -v f="$2" '$1 == n { print $f }' "$WORK/wrk.tsv"; }

check_page() { # sanity: the URL answers 200 with N items
    local url=$1 token=$2 want=$3 got
    got=$(curl -fsS "$url" -H "Authorization: Bearer $token" | jq '.items | length')
    [[ $got == "$want" ]] || die "$url gave $got items, expected $want"
}

WRK_CMDS=()
: >"$WORK/wrk.tsv"
mkfifo "$WORK/sleep.fifo"
exec 7<>"$WORK/sleep.fifo"
log "binary: $BIN ($(du -h "$BIN" | cut -f1)); work dir $WORK"
log "machine: $(nproc) cores, $(awk '/MemTotal/ { printf "%.0f GB", $2 / 1048576 }' /proc/meminfo), $(uname -r)"

# ================================================================ SQLite
DATA=$WORK/sqlite
PORT=$(free_port)
log "seeding SQLite: $API_SEED via the API, $((SERVERS - API_SEED)) via sqlite3"
start_server "$DATA" "$PORT"
TOKEN=$(login "$PORT")
api_seed "$PORT" "$TOKEN"
stop_server "$SERVER_PID"
t0=$EPOCHREALTIME
sqlite3 "$DATA/ironrack.db" "$SQL_SEED_SQLITE"
SQL_SEED_S=$(awk -v us="$(us_since "$t0")" 'BEGIN { printf "%.1f", us / 1e6 }')
COUNT=$(sqlite3 "$DATA/ironrack.db" 'SELECT count(*) FROM servers')
[[ $COUNT == "$SERVERS" ]] || die "expected $SERVERS servers, found $COUNT"
log "bulk insert: ${SQL_SEED_S}s; $COUNT servers; db $(du -h "$DATA/ironrack.db" | cut -f1)"
log "row shapes (API row, then bulk row):"
sqlite3 -header -column "$DATA/ironrack.db" \
    "SELECT id, name, macs, bmc_driver, bmc_address, bmc_port, bmc_username, length(bmc_password) AS pw_len, bmc_options, power_state, created_at FROM servers WHERE id IN (1, $SERVERS)" >&2

# ---- cold start, 100k servers
wait_quiet
log "cold start x$COLD_RUNS on the data dir with $SERVERS servers"
: >"$WORK/cold-full.txt"
for _ in $(seq "$COLD_RUNS"); do
    start_server "$DATA" "$PORT"
    echo "$START_MS" >>"$WORK/cold-full.txt"
    stop_server "$SERVER_PID"
done
COLD_FULL=$(median <"$WORK/cold-full.txt")
COLD_FULL_MIN=$(sort -n "$WORK/cold-full.txt" | head -1)
COLD_FULL_MAX=$(sort -n "$WORK/cold-full.txt" | tail -1)

# ---- cold start, empty data dir (creates the db, migrates, hashes the admin password)
wait_quiet
log "cold start x$COLD_RUNS on empty data dirs"
: >"$WORK/cold-empty.txt"
for i in $(seq "$COLD_RUNS"); do
    start_server "$WORK/empty-$i" "$PORT"
    echo "$START_MS" >>"$WORK/cold-empty.txt"
    stop_server "$SERVER_PID"
done
COLD_EMPTY=$(median <"$WORK/cold-empty.txt")
COLD_EMPTY_MIN=$(sort -n "$WORK/cold-empty.txt" | head -1)
COLD_EMPTY_MAX=$(sort -n "$WORK/cold-empty.txt" | tail -1)
SELF_MS=$(grep -o 'startup_ms=[0-9]*' "$DATA.log" | tail -n "$COLD_RUNS" | cut -d= -f2 | median)
SELF_EMPTY_MS=$(cat "$WORK"/empty-*.log | grep -o 'startup_ms=[0-9]*' | cut -d= -f2 | median)

# ---- throughput
start_server "$DATA" "$PORT"
sleep 1
RSS_IDLE=$(rss_mb "$SERVER_PID")
TOKEN=$(login "$PORT")
B="http://127.0.0.1:$PORT"
AUTH="Authorization: Bearer $TOKEN"
MID=$((SERVERS / 2))
PREFIX="bench-0$(printf '%06d' "$((SERVERS - 100))" | cut -c2-4)" # e.g. bench-0999: the last 100 ids
check_page "$B/api/v1/servers?limit=100" "$TOKEN" 100
check_page "$B/api/v1/servers?limit=100&cursor=$MID" "$TOKEN" 100
check_page "$B/api/v1/servers?limit=100&name_prefix=$PREFIX" "$TOKEN" 100
log "wrk -t$THREADS -c$CONNS -d$DURATION (SQLite)"
run_wrk list "$DURATION" "$B/api/v1/servers?limit=100" "$AUTH"
run_wrk list_cursor "$DURATION" "$B/api/v1/servers?limit=100&cursor=$MID" "$AUTH"
run_wrk list_prefix "$DURATION" "$B/api/v1/servers?limit=100&name_prefix=$PREFIX" "$AUTH"
# Diagnostics: peel the request apart.
run_wrk diag_health "$DIAG_DURATION" "$B/api/v1/health"
run_wrk diag_401 "$DIAG_DURATION" "$B/api/v1/servers?limit=100"
run_wrk diag_badtoken "$DIAG_DURATION" "$B/api/v1/servers?limit=100" "Authorization: Bearer not-a-token"
run_wrk diag_limit1 "$DIAG_DURATION" "$B/api/v1/servers?limit=1" "$AUTH"
run_wrk diag_limit10 "$DIAG_DURATION" "$B/api/v1/servers?limit=10" "$AUTH"
sleep 2
RSS_AFTER=$(rss_mb "$SERVER_PID")
HWM=$(hwm_mb "$SERVER_PID")
BODY_BYTES=$(curl -fsS "$B/api/v1/servers?limit=100" -H "$AUTH" | wc -c)
stop_server "$SERVER_PID"

# ================================================================ PostgreSQL
if [[ $PG == 1 ]]; then
    PG_DB=ironrack_bench_$$
    createdb -h "$PG_HOST" -U "$PG_USER" "$PG_DB"
    PG_URL="postgres://$PG_USER@$PG_HOST:5432/$PG_DB"
    PGDIR=$WORK/pg
    log "seeding PostgreSQL ($PG_DB): $API_SEED via the API, the rest with INSERT ... generate_series"
    start_server "$PGDIR" "$PORT" --database-url "$PG_URL"
    TOKEN=$(login "$PORT")
    api_seed "$PORT" "$TOKEN"
    psql -q -v ON_ERROR_STOP=1 -h "$PG_HOST" -U "$PG_USER" -d "$PG_DB" -c "$SQL_SEED_PG" -c 'VACUUM ANALYZE servers' >/dev/null
    COUNT=$(psql -tA -h "$PG_HOST" -U "$PG_USER" -d "$PG_DB" -c 'SELECT count(*) FROM servers')
    [[ $COUNT == "$SERVERS" ]] || die "expected $SERVERS servers in PostgreSQL, found $COUNT"
    stop_server "$SERVER_PID"
    start_server "$PGDIR" "$PORT" --database-url "$PG_URL"
    PG_COLD=$START_MS
    TOKEN=$(login "$PORT")
    check_page "$B/api/v1/servers?limit=100" "$TOKEN" 100
    log "wrk -t$THREADS -c$CONNS -d$DURATION (PostgreSQL)"
    run_wrk pg_list "$DURATION" "$B/api/v1/servers?limit=100" "Authorization: Bearer $TOKEN"
    run_wrk pg_list_cursor "$DURATION" "$B/api/v1/servers?limit=100&cursor=$MID" "Authorization: Bearer $TOKEN"
    sleep 2
    PG_RSS=$(rss_mb "$SERVER_PID")
    stop_server "$SERVER_PID"
fi

# ================================================================ report
pass() { # pass VALUE OP TARGET
    if awk -v v="$1" -v t="$3" -v op="$2" 'BEGIN { exit !((op == ">=" && v >= t) || (op == "<" && v < t)) }'; then echo PASS; else echo MISS; fi
}
busy_note() { awk -v o="$(wrk_field "$1" 7)" 'BEGIN { if (o > 0.2) printf " (!other %.1f cores)", o }'; }
row() { printf '| %-44s | %-12s | %-22s | %-4s |\n' "$@"; }

echo
echo "## ironrack API benchmark, $(date -u +%Y-%m-%dT%H:%MZ), $(nproc) cores, $SERVERS servers"
if [[ -n ${IRONRACK_BIN:-} ]]; then built="given by IRONRACK_BIN"; else built="built from the working tree of $REPO (HEAD $(git -C "$REPO" rev-parse --short HEAD 2>/dev/null || echo '?'), uncommitted changes included)"; fi
echo "binary: $BIN, $built; wrk -t$THREADS -c$CONNS -d$DURATION --latency"
echo
row "Measurement" "Target" "Measured" ""
row "--------------------------------------------" "------------" "----------------------" "----"
for n in list list_cursor list_prefix; do
    rps=$(wrk_field $n 2)
    p99=$(wrk_field $n 4)
    case $n in
    list) label="SQLite GET /servers?limit=100" ;;
    list_cursor) label="SQLite ... &cursor=$MID" ;;
    list_prefix) label="SQLite ... &name_prefix=$PREFIX" ;;
    esac
    row "$label req/s" ">= $T_RPS" "$rps$(busy_note $n)" "$(pass "$rps" ">=" $T_RPS)"
    row "$label p99" "< $T_P99 ms" "$p99 ms (p50 $(wrk_field $n 3))" "$(pass "$p99" "<" $T_P99)"
done
if [[ $PG == 1 ]]; then
    for n in pg_list pg_list_cursor; do
        rps=$(wrk_field $n 2)
        p99=$(wrk_field $n 4)
        label="PostgreSQL GET /servers?limit=100"
        [[ $n == pg_list_cursor ]] && label="PostgreSQL ... &cursor=$MID"
        row "$label req/s" ">= $T_RPS" "$rps" "$(pass "$rps" ">=" $T_RPS)"
        row "$label p99" "< $T_P99 ms" "$p99 ms (p50 $(wrk_field $n 3))" "$(pass "$p99" "<" $T_P99)"
    done
fi
row "Cold start, $SERVERS servers (median of $COLD_RUNS)" "< $T_COLD ms" "$COLD_FULL ms ($COLD_FULL_MIN-$COLD_FULL_MAX)" "$(pass "$COLD_FULL" "<" $T_COLD)"
row "Cold start, empty data dir (median of $COLD_RUNS)" "< $T_COLD ms" "$COLD_EMPTY ms ($COLD_EMPTY_MIN-$COLD_EMPTY_MAX)" "$(pass "$COLD_EMPTY" "<" $T_COLD)"
[[ $PG == 1 ]] && row "Cold start, PostgreSQL, $SERVERS servers (1 run)" "< $T_COLD ms" "$PG_COLD ms" "$(pass "$PG_COLD" "<" $T_COLD)"
row "Idle RSS after start (SQLite, $SERVERS)" "< $T_RSS MB" "$RSS_IDLE MB" "$(pass "$RSS_IDLE" "<" $T_RSS)"
row "Idle RSS after the wrk runs (SQLite)" "< $T_RSS MB" "$RSS_AFTER MB (peak $HWM)" "$(pass "$RSS_AFTER" "<" $T_RSS)"
[[ $PG == 1 ]] && row "Idle RSS after the wrk runs (PostgreSQL)" "< $T_RSS MB" "$PG_RSS MB" "$(pass "$PG_RSS" "<" $T_RSS)"
echo
echo "All wrk runs (diagnostics: $DIAG_DURATION each, same server and wrk settings). 'server CPU' = ironrack's"
echo "user+sys CPU time / requests; 'other' = cores used by processes other than ironrack and wrk (should be ~0):"
printf '| %-52s | %8s | %8s | %8s | %10s | %6s | %s\n' "Request" "req/s" "p50 ms" "p99 ms" "server CPU" "other" "non-2xx"
for n in diag_health diag_401 diag_badtoken diag_limit1 diag_limit10 list list_cursor list_prefix pg_list pg_list_cursor; do
    [[ -n $(wrk_field $n 2) ]] || continue
    case $n in
    diag_health) label="GET /health (no auth, SELECT 1)" ;;
    diag_401) label="GET /servers, no token (401, no DB)" ;;
    diag_badtoken) label="GET /servers, unknown token (token lookup, 401)" ;;
    diag_limit1) label="GET /servers?limit=1 (auth: token+user, 2 rows)" ;;
    diag_limit10) label="GET /servers?limit=10" ;;
    list) label="GET /servers?limit=100 ($BODY_BYTES-byte body)" ;;
    list_cursor) label="GET /servers?limit=100&cursor=$MID" ;;
    list_prefix) label="GET /servers?limit=100&name_prefix=$PREFIX" ;;
    pg_list) label="PostgreSQL GET /servers?limit=100" ;;
    pg_list_cursor) label="PostgreSQL GET /servers?limit=100&cursor=$MID" ;;
    esac
    printf '| %-52s | %8s | %8s | %8s | %7s us | %6s | %s\n' "$label" "$(wrk_field $n 2)" "$(wrk_field $n 3)" "$(wrk_field $n 4)" "$(wrk_field $n 6)" "$(wrk_field $n 7)" "$(wrk_field $n 5)"
done
echo
echo "Seeding: $API_SEED servers via POST /api/v1/servers (curl x8: $API_SEED_RATE/s), $((SERVERS - API_SEED)) via one sqlite3 transaction (${SQL_SEED_S}s)."
echo "Cold start = exec of 'ironrack serve' -> first 200 on GET /api/v1/health (polled every ~1 ms);"
echo "  the server's own startup_ms log field (config -> listening) median: ${SELF_MS} ms (100k), ${SELF_EMPTY_MS} ms (empty)."
echo
echo "Reproduce:"
echo "  bench/api.sh                       # or IRONRACK_BIN=... SERVERS=... DURATION=... PG=0 bench/api.sh"
echo "  by hand, with a server seeded as above and TOKEN from POST /api/v1/auth/login:"
for c in "${WRK_CMDS[@]}"; do echo "    $c"; done
