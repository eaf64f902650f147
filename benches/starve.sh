#!/usr/bin/env bash
# Measures the local port's starvation bounds on the real daemon (benches/README.md, "starve"):
# 3,000 slow-header sockets, 20,000 idle ones, 300 clients giving up on a stalled provider; the
# daemon's memory and descriptors before, during and after. Loopback only; a few minutes.
#   benches/starve.sh [REDLINE_BINARY [slow|idle|cancel ...]]
# Without a binary it measures a fresh `cargo build --release` of this tree.
set -euo pipefail
cd "$(dirname "$0")/.."
binary=${1:-}
[ $# -gt 0 ] && shift
if [ -z "$binary" ]; then
  cargo build --release --locked --bin redline
  binary="${CARGO_TARGET_DIR:-target}/release/redline"
fi
[ -x "$binary" ] || { echo "starve: no redline binary at $binary" >&2; exit 1; }
# A private Secret Service on a private D-Bus session holds the daemon's key and tokens.
exec dbus-run-session -- scripts/with-test-keyring.sh python3 benches/starve.py "$(realpath "$binary")" "$@"
