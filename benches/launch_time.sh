#!/usr/bin/env bash
# Time from launching the desktop app to its tray icon and to its window, on a private X server
# and D-Bus session (see launch_time.py).
#   benches/launch_time.sh [RUNS]   builds the release binary first; RUNS launches of each kind (5)
set -euo pipefail
cd "$(dirname "$0")/.."
# REDLINE_DESKTOP_BIN: measure that binary instead (no build), e.g. a copy of an earlier build.
if [ -z "${REDLINE_DESKTOP_BIN:-}" ]; then
  cargo build --release -p redline-desktop --locked
fi
binary=${REDLINE_DESKTOP_BIN:-${CARGO_TARGET_DIR:-target}/release/redline-desktop}
python=/usr/bin/python3
[ -x "$python" ] || python=python3
# A runtime directory of its own: the tray library writes its icon files there.
runtime=$(mktemp -d -t redline-launch-runtime-XXXXXX)
chmod 700 "$runtime"
trap 'rm -rf "$runtime"' EXIT
export XDG_RUNTIME_DIR="$runtime"
timeout --kill-after=10 1200 \
  dbus-run-session -- scripts/with-test-keyring.sh xvfb-run -a -s "-screen 0 1280x800x24" \
  "$python" benches/launch_time.py "$binary" "${1:-5}"
