#!/usr/bin/env bash
# Idle footprint of the desktop app with its window closed: PSS/RSS of all its processes, CPU
# time and wake-ups over 60 s, on a private X server and D-Bus session (see desktop_idle.py).
#   benches/desktop_idle.sh [SECONDS]   builds the release binary first
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release -p redline-desktop --locked
binary=${CARGO_TARGET_DIR:-target}/release/redline-desktop
python=/usr/bin/python3
[ -x "$python" ] || python=python3
exec dbus-run-session -- scripts/with-test-keyring.sh xvfb-run -a -s "-screen 0 1280x800x24" \
  "$python" benches/desktop_idle.py "$binary" "${1:-60}"
