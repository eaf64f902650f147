#!/usr/bin/env bash
# Idle footprint of the desktop app with its window closed: PSS/RSS of all its processes, CPU
# time and wake-ups over 60 s, on a private X server and D-Bus session (see desktop_idle.py).
#   benches/desktop_idle.sh [SECONDS] [RUNS]   builds the release binary first; RUNS: all (default),
#   account or demo
set -euo pipefail
cd "$(dirname "$0")/.."
# REDLINE_DESKTOP_BIN: measure that binary instead (no build), e.g. a copy of an earlier build.
if [ -z "${REDLINE_DESKTOP_BIN:-}" ]; then
  cargo build --release -p redline-desktop --locked
fi
binary=${REDLINE_DESKTOP_BIN:-${CARGO_TARGET_DIR:-target}/release/redline-desktop}
python=/usr/bin/python3
[ -x "$python" ] || python=python3
exec dbus-run-session -- scripts/with-test-keyring.sh xvfb-run -a -s "-screen 0 1280x800x24" \
  "$python" benches/desktop_idle.py "$binary" "${1:-60}" "${2:-all}"
