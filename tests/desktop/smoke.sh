#!/usr/bin/env bash
# End-to-end smoke test of the desktop app: a real X server (Xvfb), a private D-Bus session,
# a fake notification service (python-dbusmock), a private Secret Service (a key is added during
# the test) and the tray read over D-Bus. See smoke.py.
#   tests/desktop/smoke.sh [PATH/TO/redline-desktop]   (default: target/debug/redline-desktop)
# The whole run is bounded: after SMOKE_TIMEOUT_S seconds (default 600) everything it started
# gets SIGTERM (SIGKILL 10 s later) and the test fails saying so, instead of hanging.
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-${CARGO_TARGET_DIR:-target}/debug/redline-desktop}
[ -x "$binary" ] || { echo "smoke: $binary not found; build it with: cargo build -p redline-desktop" >&2; exit 1; }
# The system Python has python3-dbus, python3-gi and python3-dbusmock from apt.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
limit=${SMOKE_TIMEOUT_S:-600}
# A runtime directory of its own: the tray library writes its icon files there (else in
# /tmp/tray-icon, shared with every other Redline on the machine, which may replace them).
runtime=$(mktemp -d -t redline-smoke-runtime-XXXXXX)
chmod 700 "$runtime"
trap 'rm -rf "$runtime"' EXIT
export XDG_RUNTIME_DIR="$runtime"
# `timeout` runs the session in a process group of its own and signals the whole group, so the
# bus, Xvfb, the app and everything under them end too.
status=0
timeout --kill-after=10 "$limit" \
  dbus-run-session -- scripts/with-test-keyring.sh xvfb-run -a -s "-screen 0 1280x800x24" \
  "$python" tests/desktop/smoke.py "$binary" artifacts || status=$?
case $status in
  124) echo "smoke: FAIL: timed out after $limit s" >&2 ;;
  137) echo "smoke: FAIL: killed: timed out after $limit s and still running 10 s after SIGTERM (or SIGKILLed)" >&2 ;;
esac
exit "$status"
