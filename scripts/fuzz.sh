#!/usr/bin/env bash
# Runs the property tests of crates/embedder-core/tests/fuzz.rs with many more cases than
# `cargo test` does (256). Usage: scripts/fuzz.sh [cases] (default 20000).
# A failing case is shrunk and saved in crates/embedder-core/tests/fuzz.proptest-regressions.
set -euo pipefail
cd "$(dirname "$0")/.."
export PROPTEST_CASES="${1:-${PROPTEST_CASES:-20000}}"
# the test profile keeps overflow checks on: an arithmetic overflow is a failure, not a wrap-around
# (about 15 minutes for 20000 cases on 2 cores)
exec cargo test -p embedder-core --test fuzz
