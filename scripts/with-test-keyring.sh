#!/usr/bin/env bash
# Runs a command against a real, private, unlocked Secret Service (gnome-keyring-daemon), the
# way the tests need it. Call it inside `dbus-run-session`, which gives it a private session bus:
#   dbus-run-session -- scripts/with-test-keyring.sh cargo test --workspace
# The keyring's files go to a temp dir, never to your own keyring; the daemon exits with the bus.
set -euo pipefail

if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  echo "with-test-keyring: no D-Bus session bus; run me inside dbus-run-session" >&2
  exit 2
fi
keyring_home=$(mktemp -d -t redline-keyring-XXXXXX)
trap 'rm -rf "$keyring_home"' EXIT
mkdir -p "$keyring_home/data" "$keyring_home/config" "$keyring_home/runtime"
chmod 700 "$keyring_home/runtime"

# The daemon reads the new login keyring's password on stdin, creates it and keeps it unlocked.
printf 'redline-test' | HOME="$keyring_home" XDG_DATA_HOME="$keyring_home/data" \
  XDG_CONFIG_HOME="$keyring_home/config" XDG_RUNTIME_DIR="$keyring_home/runtime" \
  gnome-keyring-daemon --unlock --components=secrets --daemonize >/dev/null

# --daemonize returns before the daemon owns its bus name; wait for it (at most 10 s), or the
# first client would make D-Bus activate a second, unconfigured daemon.
for _ in $(seq 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; then
    export REDLINE_TEST_SECRET_SERVICE=1
    status=0
    "$@" || status=$?
    exit "$status"
  fi
  sleep 0.1
done
echo "with-test-keyring: gnome-keyring-daemon did not start its Secret Service" >&2
exit 1
