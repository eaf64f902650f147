#!/usr/bin/env bash
# End-to-end smoke test of the desktop app: a real X server (Xvfb), a private D-Bus session,
# a fake notification service (python-dbusmock), a private Secret Service (a key is added during
# the test) and the tray read over D-Bus. See smoke.py.
#   tests/desktop/smoke.sh [PATH/TO/redline-desktop]   (default: target/debug/redline-desktop)
set -euo pipefail
cd "$(dirname "$0")/../.."
binary=${1:-${CARGO_TARGET_DIR:-target}/debug/redline-desktop}
[ -x "$binary" ] || { echo "smoke: $binary not found; build it with: cargo build -p redline-desktop" >&2; exit 1; }
# The system Python has python3-dbus, python3-gi and python3-dbusmock from apt.
python=/usr/bin/python3
[ -x "$python" ] || python=python3
exec dbus-run-session -- scripts/with-test-keyring.sh xvfb-run -a -s "-screen 0 1280x800x24" \
  "$python" tests/desktop/smoke.py "$binary" artifacts
