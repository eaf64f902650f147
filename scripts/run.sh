#!/usr/bin/env bash
# Builds and runs the Redline desktop app (tray icon + window), installing the Linux system
# packages it needs when they are missing. Extra arguments go to the app, e.g. --hidden.
set -euo pipefail
cd "$(dirname "$0")/.."

if [ "$(uname -s)" = "Linux" ]; then
  scripts/setup-linux.sh app
  if [ -z "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ]; then
    echo "run: no graphical session (DISPLAY/WAYLAND_DISPLAY unset); the tray app needs a desktop." >&2
    echo "run: the CLI works anywhere: cargo run --release --bin redline -- --help" >&2
    exit 1
  fi
fi
echo "run: building the desktop app (the first build takes several minutes)"
exec cargo run --release --locked -p redline-desktop -- "$@"
