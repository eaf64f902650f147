#!/usr/bin/env bash
# Runs a command against a real, private, unlocked Secret Service (gnome-keyring-daemon), the
# way the tests need it. Call it inside `dbus-run-session`, which gives it a private session bus:
#   dbus-run-session -- scripts/with-test-keyring.sh cargo test --workspace
# The keyring's files go to a temp dir, never to your own keyring; the daemon ends with the
# command (or with the bus).
#
# Exit status: the command's, except 3 when the command failed and the keyring daemon had died
# under it. gnome-keyring can abort on a client's call (its "assertion 'client' failed", an
# upstream bug); every test that needed the keyring after that fails for no fault of its own,
# and scripts/test.sh runs the tests once more on a new keyring.
set -euo pipefail

if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
  echo "with-test-keyring: no D-Bus session bus; run me inside dbus-run-session" >&2
  exit 2
fi
keyring_home=$(mktemp -d -t redline-keyring-XXXXXX)
keyring_pid=""
cleanup() {
  if [ -n "$keyring_pid" ]; then kill "$keyring_pid" 2>/dev/null || true; fi
  rm -rf "$keyring_home"
}
trap cleanup EXIT
mkdir -p "$keyring_home/data" "$keyring_home/config" "$keyring_home/runtime"
chmod 700 "$keyring_home/runtime"

# The daemon reads the new login keyring's password on stdin, creates it and keeps it unlocked.
# It runs in the foreground, as this script's child, so that its messages are kept and its death
# is seen.
printf 'redline-test' | HOME="$keyring_home" XDG_DATA_HOME="$keyring_home/data" \
  XDG_CONFIG_HOME="$keyring_home/config" XDG_RUNTIME_DIR="$keyring_home/runtime" \
  gnome-keyring-daemon --foreground --unlock --components=secrets \
  >/dev/null 2>"$keyring_home/daemon.log" &
keyring_pid=$!

# Alive, and not a zombie waiting to be reaped.
keyring_alive() {
  local state
  state=$(awk '{ print $3 }' "/proc/$keyring_pid/stat" 2>/dev/null) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The daemon owns its bus name a moment after it starts; wait for it (at most 10 s), or the
# first client would make D-Bus activate a second, unconfigured daemon.
for _ in $(seq 100); do
  if dbus-send --session --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
      org.freedesktop.DBus.NameHasOwner string:org.freedesktop.secrets 2>/dev/null | grep -q true; then
    export REDLINE_TEST_SECRET_SERVICE=1
    status=0
    "$@" || status=$?
    if ! keyring_alive; then
      echo "with-test-keyring: gnome-keyring-daemon, the tests' Secret Service, died during the run; its last words:" >&2
      if [ -s "$keyring_home/daemon.log" ]; then
        tail -n 20 "$keyring_home/daemon.log" | sed 's/^/  /' >&2
      else
        echo "  (none)" >&2
      fi
      [ "$status" -ne 0 ] && status=3
    fi
    exit "$status"
  fi
  keyring_alive || break
  sleep 0.1
done
echo "with-test-keyring: gnome-keyring-daemon did not start its Secret Service:" >&2
sed 's/^/  /' "$keyring_home/daemon.log" >&2
exit 1
