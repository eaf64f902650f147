#!/usr/bin/env bash
# The soak test (benches/README.md, "soak"): 30 minutes of mixed traffic (streams, client
# hang-ups, 429 storms, settings changes, key rotations) through the release daemon against
# a fake provider, sampling the daemon's RSS, descriptors and threads every 10 s into a CSV,
# then a summary: first against last, answers lost, history rows against requests.
#   benches/soak.sh                    30 minutes
#   SOAK_SECONDS=300 benches/soak.sh   5 minutes
# Knobs: SOAK_SECONDS (1800), SOAK_SAMPLE_SECONDS (10), SOAK_WORKERS (8),
# SOAK_CSV (target/soak/soak-<time>.csv). Exit status 1 when a bar is missed.
set -euo pipefail
cd "$(dirname "$0")/.."
target=${CARGO_TARGET_DIR:-target}
cargo build --release --bin redline
export REDLINE_BIN=${REDLINE_BIN:-$PWD/$target/release/redline}
export SOAK_CSV=${SOAK_CSV:-$PWD/$target/soak/soak-$(date +%Y%m%d-%H%M%S).csv}
cargo bench --bench soak --no-run
# A private D-Bus session with a private, unlocked Secret Service for the key (the soak's own
# service name; nothing of the user's keyring is touched).
exec dbus-run-session -- scripts/with-test-keyring.sh cargo bench --bench soak
