#!/usr/bin/env bash
# A short cargo-fuzz run of every target in crates/ipmi/fuzz (one per
# decoder family): a decoder that panics on some input fails this script,
# and the input is saved under crates/ipmi/fuzz/artifacts/TARGET/.
#
#   scripts/fuzz-smoke.sh [TOTAL_SECONDS]      (default 25, split over targets)
#
# Stable Rust is enough. No sanitizer by default (-s none): the code is safe
# Rust, what we look for is panics (debug assertions and overflow checks are
# on), and then cargo-fuzz passes no -Z flag at all. FUZZ_SANITIZER=address
# asks for ASan, whose -Zsanitizer stable rustc accepts with RUSTC_BOOTSTRAP=1
# (set here in that case). Installs cargo-fuzz from crates.io when missing.
# First run: ~50 s CPU to install cargo-fuzz, ~80 s CPU to build the targets;
# later runs reuse both. Longer runs by hand:
#   cd crates/ipmi/fuzz && cargo fuzz run -s none TARGET
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:-25}
[[ $total =~ ^[0-9]+$ && $total -ge 1 ]] || { echo "fuzz-smoke.sh: TOTAL_SECONDS must be a positive integer" >&2; exit 2; }

if ! cargo fuzz --version > /dev/null 2>&1; then
    echo "fuzz-smoke: installing cargo-fuzz from crates.io"
    start=$SECONDS
    cargo install cargo-fuzz --locked --quiet
    echo "fuzz-smoke: cargo-fuzz installed in $((SECONDS - start)) s"
fi

sanitizer=${FUZZ_SANITIZER:-none}
[[ $sanitizer == none ]] || export RUSTC_BOOTSTRAP=1
cd crates/ipmi/fuzz
# The fuzz workspace's lockfile is not kept; start from the main one so the
# library is fuzzed with the dependency versions it ships with.
[[ -f Cargo.lock ]] || cp ../../../Cargo.lock Cargo.lock
mapfile -t targets < <(cargo fuzz list)
((${#targets[@]} > 0)) || { echo "fuzz-smoke: no fuzz targets found" >&2; exit 1; }
per=$((total / ${#targets[@]}))
((per >= 1)) || per=1

start=$SECONDS
cargo fuzz build -s "$sanitizer"
echo "fuzz-smoke: built ${#targets[@]} targets in $((SECONDS - start)) s"
status=0
for t in "${targets[@]}"; do
    mkdir -p "corpus/$t"
    # -rss_limit_mb: a decoder that allocates without bound is a bug too.
    if cargo fuzz run -s "$sanitizer" "$t" -- -max_total_time="$per" -timeout=5 -rss_limit_mb=1024 \
        -print_final_stats=1 > "target/fuzz-$t.log" 2>&1; then
        echo "fuzz-smoke: $t ok ($(grep -m1 -o 'stat::number_of_executed_units: *[0-9]*' "target/fuzz-$t.log" | grep -o '[0-9]*$') runs in $per s)"
    else
        echo "fuzz-smoke: $t FAILED; last lines of its log:" >&2
        tail -n 30 "target/fuzz-$t.log" >&2
        status=1
    fi
done
exit $status
