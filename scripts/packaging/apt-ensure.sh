#!/usr/bin/env bash
# Installs the Debian packages named that are missing, with apt (as root, or with sudo), the
# way scripts/setup-linux.sh does; refreshes apt's lists once if a package cannot be found.
#   scripts/packaging/apt-ensure.sh PACKAGE...
set -euo pipefail
missing=()
for package in "$@"; do
  dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed" || missing+=("$package")
done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null 2>&1 || { echo "apt-ensure: not a Debian/Ubuntu system; install: ${missing[*]}" >&2; exit 1; }
sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || { echo "apt-ensure: run as root or install sudo to install: ${missing[*]}" >&2; exit 1; }
  sudo=(sudo)
fi
echo "apt-ensure: installing ${missing[*]}"
install() { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends "${missing[@]}" >/dev/null; }
install 2>/dev/null || { "${sudo[@]}" apt-get update -q >/dev/null && install; }
