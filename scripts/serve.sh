#!/usr/bin/env bash
# Builds the browser UI (embedded into the binary) and runs `ironrack serve`
# with the given arguments. Usage: scripts/serve.sh [serve flags...]
# Needs Rust (rustup) and Node.js >= 20.19 with npm.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ ! -d web/node_modules ]; then npm --prefix web ci --no-audit --no-fund; fi
npm --prefix web run build
exec cargo run --release -p ironrack -- serve "$@"
