#!/usr/bin/env bash
# Desktop sessions: start (BMC web login included) to the VNC socket and to
# the first frame showing the BMC's page (kiosk Firefox) or Java window
# (javaws), and the session's memory then (RSS and PSS summed over its uid).
# Against the test BMC web server of crates/desktop (loopback). Prints a
# table; asserts nothing. Needs root, Xvfb, x11vnc, openbox, firefox-esr,
# icedtea-netx (javaws) and a JDK (javac, jar).
#
#   bench/desktop.sh                 # 3 rounds of each
#   ROUNDS=1 bench/desktop.sh        # quick check
#
# Knobs: ROUNDS (3), UID_BASE (61300), DISPLAY_BASE (230), CARGO_TARGET_DIR,
# PROFILE (release; `dev` skips the release build: the figures are Firefox's,
# Java's and X's, not ironrack's).
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench/desktop.sh: needs root (each session runs as its own uid)" >&2; exit 1; }
PROFILE=${PROFILE:-release}
cargo build -q --profile "$PROFILE" -p ironrack-desktop --features test-support --example desktop_bench
dir=$PROFILE; [ "$PROFILE" = dev ] && dir=debug
exec "${CARGO_TARGET_DIR:-target}/$dir/examples/desktop_bench"
