#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages Redline needs, only when some are missing.
#   scripts/setup-linux.sh app    what building and running the desktop app needs
#   scripts/setup-linux.sh test   that, plus what the tests need (Xvfb, D-Bus, gnome-keyring)
set -euo pipefail

app_packages=(
  build-essential pkg-config curl wget file
  libwebkit2gtk-4.1-dev libayatana-appindicator3-dev librsvg2-dev libxdo-dev libssl-dev
)
# python3-dbus, python3-gi, python3-dbusmock and imagemagick: the desktop smoke test (a fake
# notification service, the tray read over D-Bus, a screenshot). chromium: the dashboard tests.
# redis-server: the shared-limits tests start their own (tests/engine/shared_limits.rs).
test_packages=(xvfb dbus dbus-x11 gnome-keyring libsecret-tools python3 python3-venv systemd
  xauth python3-dbus python3-gi python3-dbusmock imagemagick chromium redis-server)
# The dashboard's browser tests run on Node.js; a Node from elsewhere (nodesource, nvm) will do.
command -v npm >/dev/null 2>&1 || test_packages+=(nodejs npm)

case "${1:-app}" in
  app) wanted=("${app_packages[@]}") ;;
  test) wanted=("${app_packages[@]}" "${test_packages[@]}") ;;
  *) echo "usage: $0 [app|test]" >&2; exit 2 ;;
esac

if ! command -v dpkg >/dev/null 2>&1; then
  echo "setup: not a Debian/Ubuntu system; install the equivalents of: ${wanted[*]}" >&2
  exit 0
fi

missing=()
for package in "${wanted[@]}"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: system packages present"
  exit 0
fi

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "setup: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "setup: installing ${missing[*]} (this takes a few minutes the first time)"
"${sudo[@]}" apt-get update -q
DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}"
