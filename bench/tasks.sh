#!/usr/bin/env bash
# bench/tasks.sh: N power-status tasks end to end
#   API (POST /servers/{id}/power) → bus → agent → fake driver → events → store
# once with the in-process bus (`ironrack serve`, SQLite) and once through
# RabbitMQ (`ironrack controller` on PostgreSQL + `ironrack agent`).
# Prints tasks/s (first task created → last task finished, from the store's
# own timestamps) and the p50/p99 of each task's created → finished time.
#
# Usage:   bench/tasks.sh                  (builds the release binary)
#          IRONRACK_BIN=/path/ironrack bench/tasks.sh
# Knobs:   TASKS=10000 SERVERS=200 CONNS=32 MODES="inproc amqp"
#          AMQP=amqp://guest:guest@127.0.0.1:5672/%2f PG_HOST=127.0.0.1 PG_USER=postgres
#          KEEP=1 keeps the temp dir (logs, databases' files)
# Everything it starts is stopped by PID on exit; the PostgreSQL database and
# the RabbitMQ queues it creates (prefix bench-<pid>) are deleted.
set -euo pipefail

TASKS=${TASKS:-10000}
SERVERS=${SERVERS:-200}
CONNS=${CONNS:-32}
MODES=${MODES:-"inproc amqp"}
AMQP=${AMQP:-amqp://guest:guest@127.0.0.1:5672/%2f}
PG_HOST=${PG_HOST:-127.0.0.1}
PG_USER=${PG_USER:-postgres}
KEEP=${KEEP:-0}
PW=bench-admin-pw
T_RATE=2000 # tasks/s, the issue's target

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/.." && pwd)
WORK=$(mktemp -d /tmp/ironrack-bench-tasks.XXXXXX)
PIDS=()
PG_DB=""
PREFIX="bench-$$"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() { log "ERROR: $*"; exit 1; }

cleanup() {
    local rc=$?
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
    done
    [[ -n $PG_DB ]] && dropdb -h "$PG_HOST" -U "$PG_USER" --if-exists "$PG_DB" 2>/dev/null || true
    if command -v rabbitmqctl >/dev/null; then
        rabbitmqctl -q list_queues name 2>/dev/null | grep "^$PREFIX" |
            while read -r q; do rabbitmqctl -q delete_queue "$q" </dev/null >/dev/null 2>&1 || true; done
        # rabbitmqctl has no delete_exchange (rabbitmqadmin needs the
        # management plugin): the broker's own function does it. Commands
        # in these loops read /dev/null, or they would eat the list.
        rabbitmqctl -q list_exchanges name 2>/dev/null | grep "^$PREFIX" |
            while read -r x; do
                rabbitmqctl -q eval "rabbit_exchange:delete(rabbit_misc:r(<<\"/\">>, exchange, <<\"$x\">>), false, <<\"bench\">>)." \
                    </dev/null >/dev/null 2>&1 || true
            done
    fi
    if [[ $KEEP == 1 ]]; then log "kept $WORK"; else rm -rf "$WORK"; fi
    exit $rc
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for tool in wrk curl jq sqlite3; do
    command -v $tool >/dev/null || apt-get install -y -q $tool >/dev/null 2>&1 || die "needs $tool"
done

if [[ -n ${IRONRACK_BIN:-} ]]; then
    BIN=$IRONRACK_BIN
else
    export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-/work/target-bench}
    log "building the release binary"
    (cd "$REPO" && cargo build --release -q -p ironrack)
    BIN=$CARGO_TARGET_DIR/release/ironrack
fi

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

wait_health() {
    local port=$1 pid=$2 logf=$3
    for _ in $(seq 300); do
        curl -fs "http://127.0.0.1:$port/api/v1/health" >/dev/null && return
        kill -0 "$pid" 2>/dev/null || { cat "$logf" >&2; die "ironrack exited"; }
        sleep 0.1
    done
    die "no health after 30 s"
}

# api METHOD PATH [JSON]: prints the body, fails on a non-2xx answer.
api() {
    curl -fsS -X "$1" "$URL$2" -H "Authorization: Bearer $TOKEN" \
        -H 'Content-Type: application/json' ${3:+-d "$3"}
}

# The wrk script: POST /servers/{id}/power {"action":"status"}, cycling over
# the ids in IDS_FILE, each thread stopping after its share of TASKS.
cat >"$WORK/power.lua" <<'EOF'
local ids, n, per_thread = {}, 0, 0
local threads = {}
function setup(thread)
    table.insert(threads, thread)
end
function init(args)
    for line in io.lines(args[1]) do table.insert(ids, line) end
    per_thread = tonumber(args[2])
    wrk.method = "POST"
    wrk.body = '{"action":"status"}'
    wrk.headers["Content-Type"] = "application/json"
    wrk.headers["Authorization"] = "Bearer " .. args[3]
end
local sent, done = 0, 0
function request()
    sent = sent + 1
    local id = ids[(sent % #ids) + 1]
    return wrk.format(nil, "/api/v1/servers/" .. id .. "/power")
end
function response(status, headers, body)
    done = done + 1
    if status ~= 202 then io.stderr:write("status " .. status .. ": " .. body .. "\n") end
    if done >= per_thread then wrk.thread:stop() end
end
EOF

# CPU seconds (user + system, 10 ms ticks) burnt so far by the processes
# whose PIDs are given, including children they reaped (PostgreSQL
# backends that ended).
cpu_of() {
    local ticks=0 pid f
    for pid in "$@"; do
        f=$(cut -d')' -f2 "/proc/$pid/stat" 2>/dev/null) || continue
        set -- $f
        ticks=$((ticks + ${12} + ${13} + ${14} + ${15}))
    done
    echo "$ticks"
}

# Component name and its PIDs, one "name pid..." per line, for the CPU
# breakdown: what each part of the path costs per task.
components() {
    if [[ $1 == amqp ]]; then
        echo "controller $CTL_PID"
        echo "agent $AGENT_PID"
    else
        echo "ironrack $IR_PIDS"
    fi
    local pg rabbit
    # The backends serving the bench database, and the WAL writer.
    pg=$(pgrep -f "postgres: .*($PG_DB|walwriter)" | tr '\n' ' ')
    [[ -n $pg && $1 == amqp ]] && echo "postgres $pg"
    rabbit=$(pgrep -f beam.smp | tr '\n' ' ')
    [[ -n $rabbit && $1 == amqp ]] && echo "rabbitmq $rabbit"
}

# run_mode NAME SQL_CMD: seeds servers, fires TASKS, waits, prints a row.
RESULTS=()
CPU_ROWS=()
fire_and_measure() {
    local name=$1 sql=$2 site=$3
    log "$name: creating $SERVERS fake servers at site $site"
    : >"$WORK/ids"
    for i in $(seq "$SERVERS"); do
        # With a BMC password: across RabbitMQ each task carries it sealed.
        api POST /api/v1/servers "{\"name\":\"b$i\",\"site\":\"$site\",\"macs\":[],\"bmc\":{\"driver\":\"fake\",\"address\":\"10.0.0.1\",\"username\":\"u\",\"password\":\"bench-bmc-pw\"}}" |
            jq -r .id >>"$WORK/ids"
    done
    local threads=2 per=$((TASKS / 2))
    log "$name: $TASKS power-status tasks ($CONNS connections)"
    local -A cpu0=()
    local comp pids
    while read -r comp pids; do cpu0[$comp]=$(cpu_of $pids); done < <(components "$MODE")
    # wrk runs for its whole -d even after every thread stopped at its
    # share: watch the store and stop it (by PID) once all are accepted.
    wrk -t$threads -c"$CONNS" -d600s -s "$WORK/power.lua" "$URL" -- "$WORK/ids" "$per" "$TOKEN" \
        >"$WORK/$name.wrk" 2>"$WORK/$name.wrk.err" &
    local wrk_pid=$!
    PIDS+=("$wrk_pid")
    local total=0
    # Polled once a second: each poll is a psql process and a PostgreSQL
    # backend, whose CPU comes out of the rate being measured.
    for _ in $(seq 600); do
        total=$($sql "select count(*) from tasks")
        ((total >= TASKS)) && break
        kill -0 "$wrk_pid" 2>/dev/null || break
        sleep 1
    done
    WRK_TICKS=$(cpu_of "$wrk_pid")
    kill "$wrk_pid" 2>/dev/null || true
    wait "$wrk_pid" 2>/dev/null || true
    [[ -s $WORK/$name.wrk.err ]] && { log "$name: refused requests:"; head -5 "$WORK/$name.wrk.err" >&2; }
    log "$name: $total tasks accepted; waiting for them to finish"
    for _ in $(seq 300); do
        local left
        left=$($sql "select count(*) from tasks where finished_at is null")
        [[ $left == 0 ]] && break
        sleep 1
    done
    # Per task, over the whole run (firing and finishing): CPU ms of each part.
    local line="" total_ms=0 ms
    while read -r comp pids; do
        ms=$(( ($(cpu_of $pids) - ${cpu0[$comp]}) * 10 * 1000 / TASKS ))
        line+="$comp $((ms / 1000)).$(printf '%03d' $((ms % 1000))) ms, "
        total_ms=$((total_ms + ms))
    done < <(components "$MODE")
    ms=$((WRK_TICKS * 10 * 1000 / TASKS))
    CPU_ROWS+=("$name: CPU per task: ${line}together $((total_ms / 1000)).$(printf '%03d' $((total_ms % 1000))) ms (wrk ~$((ms / 1000)).$(printf '%03d' $((ms % 1000))) ms) -> at most ~$((2000000 / (total_ms > 0 ? total_ms : 1))) tasks/s on 2 cores")
    # What PostgreSQL did per task (its own counters for the bench database).
    if [[ $MODE == amqp ]]; then
        local pgstat
        pgstat=$($sql "select round(xact_commit::numeric / $TASKS, 2) || ' commits, ' || round(tup_returned::numeric / $TASKS, 1) || ' rows read, ' || round(tup_inserted::numeric / $TASKS, 2) || ' inserted, ' || round(tup_updated::numeric / $TASKS, 2) || ' updated per task, ' || deadlocks || ' deadlocks' from pg_stat_database where datname = current_database()")
        CPU_ROWS+=("$name: PostgreSQL: $pgstat")
        pgstat=$($sql "select string_agg(relname || ' ' || seq_scan || ' seq scans (' || seq_tup_read || ' rows), ' || coalesce(idx_scan, 0) || ' index scans', '; ' order by seq_tup_read desc) from pg_stat_user_tables where seq_tup_read > 0 or idx_scan > 0")
        CPU_ROWS+=("$name: PostgreSQL tables: $pgstat")
    fi
    local rate p50 p99 failed
    rate=$($sql "select round(count(*) * 1000.0 / (max(finished_at) - min(created_at))) from tasks")
    p50=$($sql "select finished_at - created_at from tasks order by 1 limit 1 offset (select count(*) * 50 / 100 from tasks)")
    p99=$($sql "select finished_at - created_at from tasks order by 1 limit 1 offset (select count(*) * 99 / 100 from tasks)")
    # When the tail is long, when it happened: per half second of the run,
    # tasks created and their slowest created → finished (a stall of the
    # broker, the database or the disk shows as one bad slot).
    local timeline
    # (Rows formatted here: SQLite 3.40 has no string_agg.)
    timeline=$($sql "select (created_at - t0) / 500, count(*), max(finished_at - created_at) from tasks, (select min(created_at) t0 from tasks) s group by 1 order by 1" |
        awk -F'|' '{ printf "%s+%.1fs %d/%dms", (NR > 1 ? "  " : ""), $1 * 0.5, $2, $3 }')
    CPU_ROWS+=("$name: per 0.5 s of the run, tasks created/slowest: $timeline")
    failed=$($sql "select count(*) from tasks where state <> 'succeeded'")
    if ((failed > 0)); then
        log "$name: tasks that did not succeed (state, error, count):"
        $sql "select state, coalesce(error, ''), count(*) from tasks where state <> 'succeeded' group by 1, 2" >&2
    fi
    local verdict=MISS
    ((${rate%.*} >= T_RATE)) && verdict=PASS
    RESULTS+=("$(printf '| %-34s | %6s | %9s | %7s ms | %7s ms | %6s | %s |' \
        "$name" "$total" "$rate" "$p50" "$p99" "$failed" "$verdict")")
}

for mode in $MODES; do
    case $mode in
    inproc)
        PORT=$(free_port)
        DIR=$WORK/inproc
        "$BIN" serve --data-dir "$DIR" --listen "127.0.0.1:$PORT" --admin-password "$PW" \
            --log warn >"$WORK/inproc.log" 2>&1 &
        PIDS+=($!)
        MODE=inproc IR_PIDS=$!
        wait_health "$PORT" $! "$WORK/inproc.log"
        URL=http://127.0.0.1:$PORT
        TOKEN=$(curl -fsS "$URL/api/v1/auth/login" -H 'Content-Type: application/json' \
            -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | jq -r .token)
        SITE=$(api GET /api/v1/sites | jq -r '.items[0].name')
        fire_and_measure "in-process bus, SQLite" "sqlite3 $DIR/ironrack.db" "$SITE"
        ;;
    amqp)
        PG_DB=ironrack_bench_tasks_$$
        createdb -h "$PG_HOST" -U "$PG_USER" "$PG_DB"
        # PG_LOG=1: PostgreSQL logs every statement of the bench database
        # (to its server log), for counting what a task costs it.
        [[ ${PG_LOG:-0} == 1 ]] && psql -h "$PG_HOST" -U "$PG_USER" -qc "ALTER DATABASE $PG_DB SET log_statement = 'all'" postgres
        PORT=$(free_port)
        "$BIN" controller --data-dir "$WORK/ctl" --listen "127.0.0.1:$PORT" --admin-password "$PW" \
            --database-url "postgres://$PG_USER@$PG_HOST/$PG_DB" --amqp "$AMQP" --amqp-prefix "$PREFIX" \
            --log warn >"$WORK/controller.log" 2>&1 &
        PIDS+=($!)
        CTL_PID=$!
        wait_health "$PORT" $! "$WORK/controller.log"
        URL=http://127.0.0.1:$PORT
        TOKEN=$(curl -fsS "$URL/api/v1/auth/login" -H 'Content-Type: application/json' \
            -d "{\"username\":\"admin\",\"password\":\"$PW\"}" | jq -r .token)
        SITE_ID=$(api POST /api/v1/sites '{"name":"bench","location":"bench"}' | jq -r .id)
        PUBKEY=$("$BIN" agent keygen --key-file "$WORK/agent.key" 2>/dev/null | tail -n 1)
        api PUT "/api/v1/sites/$SITE_ID/agent-key" "{\"public_key\":\"$PUBKEY\"}" >/dev/null
        "$BIN" agent --site bench --name bench-agent --amqp "$AMQP" --amqp-prefix "$PREFIX" \
            --key-file "$WORK/agent.key" \
            --log warn >"$WORK/agent.log" 2>&1 &
        PIDS+=($!)
        MODE=amqp AGENT_PID=$!
        fire_and_measure "RabbitMQ bus, PostgreSQL" "psql -h $PG_HOST -U $PG_USER -d $PG_DB -qtAc" bench
        ;;
    *) die "unknown mode $mode (inproc, amqp)" ;;
    esac
done

echo
echo "$TASKS power-status tasks, $SERVERS fake servers, wrk -t2 -c$CONNS; target >= $T_RATE tasks/s"
printf '| %-34s | %6s | %9s | %10s | %10s | %6s | %s |\n' mode tasks "tasks/s" "p50" "p99" "failed" ""
for r in "${RESULTS[@]}"; do echo "$r"; done
for r in "${CPU_ROWS[@]}"; do echo "$r"; done
echo "tasks/s = tasks / (last finished_at - first created_at); latency = finished_at - created_at per task (store clock, ms)."
echo "Reproduce: IRONRACK_BIN=... TASKS=$TASKS SERVERS=$SERVERS CONNS=$CONNS MODES=\"$MODES\" bench/tasks.sh"
