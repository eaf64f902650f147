#!/usr/bin/env bash
# Install test of the Linux packages scripts/package.sh made, on this machine (root or sudo):
#
#   scripts/package-test.sh [PACKAGES_DIR]     (default: target/packages)
#
# 1. installs the .deb with apt (any earlier `redline` package is removed first);
# 2. checks `redline --version` and `redline-desktop --version` (the workspace's version and,
#    in a git checkout, this commit), the package's version and dependencies, the .desktop
#    entry (desktop-file-validate), the icon in every hicolor size, the systemd user unit;
# 3. starts the installed app hidden under Xvfb with a private D-Bus session and Secret
#    Service, sees its tray item and quits it from the tray menu (scripts/packaging/tray_check.py);
# 4. removes the package with apt and checks that neither command is left on PATH and none of
#    its files is left behind;
# 5. runs the AppImage's `--version` (with --appimage-extract-and-run where FUSE is missing)
#    for the app, and for the command line through a link named `redline`; then starts the
#    AppImage hidden and sees its tray item, as in 3.
# Each part prints its progress and time; every wait is bounded (the tray by tray_check.py, the
# whole run by the caller: scripts/test.sh gives it a deadline).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
dir=${1:-${CARGO_TARGET_DIR:-target}/packages}
started=$SECONDS
say() { printf 'package-test: [%4ds] %s\n' $((SECONDS - started)) "$*"; }
fail() {
  echo "package-test: FAIL: $*" >&2
  exit 1
}

shopt -s nullglob
debs=("$dir"/*.deb)
appimages=("$dir"/*.AppImage)
shopt -u nullglob
[ ${#debs[@]} -eq 1 ] || fail "expected one .deb in $dir, found ${#debs[@]}; make them with scripts/package.sh"
[ ${#appimages[@]} -eq 1 ] || fail "expected one AppImage in $dir, found ${#appimages[@]}; scripts/package.sh says why it made none"
deb=$(cd "$(dirname "${debs[0]}")" && pwd)/$(basename "${debs[0]}")
appimage=$(cd "$(dirname "${appimages[0]}")" && pwd)/$(basename "${appimages[0]}")

sudo=()
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "installing a package needs root or sudo"
  sudo=(sudo)
fi
command -v apt-get >/dev/null 2>&1 || fail "this test installs the .deb with apt-get: run it on Debian or Ubuntu"
command -v desktop-file-validate >/dev/null 2>&1 || scripts/packaging/apt-ensure.sh desktop-file-utils
for tool in dpkg-deb desktop-file-validate xvfb-run dbus-run-session; do
  command -v "$tool" >/dev/null 2>&1 || fail "$tool is not installed (scripts/setup-linux.sh test installs what the tests need)"
done

version=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "redline-desktop"))')
commit=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
package=$(dpkg-deb --field "$deb" Package)
say "testing $(basename "$deb") (package '$package') and $(basename "$appimage"); expecting version $version, commit $commit"

apt_get() { DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get -q -y -o Dpkg::Use-Pty=0 "$@"; }
installed() { dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; }
# However the test ends, it leaves the machine without the package.
cleanup() {
  if installed; then
    apt_get remove --purge "$package" >/dev/null 2>&1 || true
  fi
}
trap cleanup EXIT

if installed; then
  say "removing the '$package' package already installed"
  apt_get remove --purge "$package" >/dev/null
fi
# What the commands resolve to on the system's PATH without the package (nothing, normally):
# after removal it must be that again.
system_path=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
on_path() { PATH=$system_path command -v "$1" || true; }
declare -A before
for command in redline redline-desktop; do
  before[$command]=$(on_path "$command")
  [ -z "${before[$command]}" ] || say "note: $command is on PATH at ${before[$command]} without the package"
done

# --- 1. install ---
t0=$SECONDS
# --no-install-recommends: a test machine need not get a keyring from it (the test brings its
# own); the dependencies must already be satisfiable, as they are after scripts/setup-linux.sh.
apt_get install --no-install-recommends "$deb" >/dev/null || fail "apt-get install of $deb failed"
say "installed with apt in $((SECONDS - t0)) s"
mapfile -t files < <(dpkg -L "$package")

# --- 2. what it installed ---
for command in redline redline-desktop; do
  [ -x "/usr/bin/$command" ] || fail "/usr/bin/$command is not installed"
  [ "$(on_path "$command")" = "/usr/bin/$command" ] || fail "$command is not found on PATH (found: '$(on_path "$command")')"
  out=$("/usr/bin/$command" --version) || fail "$command --version failed"
  [ "$out" = "$command $version (commit $commit)" ] ||
    fail "$command --version printed '$out', expected '$command $version (commit $commit)'"
  say "$out"
done
[ "$(dpkg-query -W -f='${Version}' "$package")" = "$version" ] ||
  fail "the package's version is $(dpkg-query -W -f='${Version}' "$package"), not the workspace's $version"
depends=$(dpkg-query -W -f='${Depends}' "$package")
recommends=$(dpkg-query -W -f='${Recommends}' "$package")
for dependency in libwebkit2gtk-4.1-0 libayatana-appindicator3-1; do
  [[ "$depends" == *"$dependency"* ]] || fail "the package does not depend on $dependency: Depends: $depends"
done
[[ "$recommends" == *gnome-keyring* ]] || fail "the package does not recommend a Secret Service provider: Recommends: $recommends"
say "version $version; Depends: $depends; Recommends: $recommends"

desktop=$(printf '%s\n' "${files[@]}" | grep '^/usr/share/applications/.*\.desktop$' | head -1)
[ -n "$desktop" ] || fail "no .desktop entry in /usr/share/applications"
desktop-file-validate "$desktop" || fail "desktop-file-validate found errors in $desktop"
grep -qx 'Exec=redline-desktop' "$desktop" || fail "$desktop does not start redline-desktop: $(grep '^Exec=' "$desktop")"
icon=$(sed -n 's/^Icon=//p' "$desktop")
for size in 16 24 32 48 64 128 256 512; do
  file="/usr/share/icons/hicolor/${size}x${size}/apps/$icon.png"
  [ -f "$file" ] || fail "no ${size}x${size} icon: $file"
  [ "$(python3 -c 'import struct, sys; d = open(sys.argv[1], "rb").read(24); print("%dx%d" % struct.unpack(">II", d[16:24]))' "$file")" = "${size}x${size}" ] ||
    fail "$file is not ${size}x${size}"
done
say "$desktop is valid (desktop-file-validate); icon '$icon' in hicolor 16 to 512 px"

unit=/usr/lib/systemd/user/redline.service
[ -f "$unit" ] || fail "the systemd user unit $unit is not installed"
grep -qx 'ExecStart=/usr/bin/redline daemon' "$unit" || fail "$unit does not start /usr/bin/redline: $(grep '^ExecStart' "$unit")"
if command -v systemd-analyze >/dev/null 2>&1; then
  # Offline check of the unit (unknown keys, a missing ExecStart binary); --user needs a
  # runtime directory, not a running user manager.
  analyze_runtime=$(mktemp -d -t redline-analyze-XXXXXX)
  chmod 700 "$analyze_runtime"
  XDG_RUNTIME_DIR="$analyze_runtime" systemd-analyze --user verify "$unit" ||
    fail "systemd-analyze --user verify found errors in $unit"
  rm -rf "$analyze_runtime"
fi
say "systemd user unit $unit runs /usr/bin/redline daemon"

# --- 3. the installed app in a tray ---
t0=$SECONDS
runtime=$(mktemp -d -t redline-package-test-XXXXXX)
chmod 700 "$runtime"
mkdir -p artifacts
status=0
# A runtime directory of its own: the tray library writes its icon files there.
tray_check() { # tray_check LOG COMMAND...
  XDG_RUNTIME_DIR="$runtime" timeout --kill-after=10 120 \
    dbus-run-session -- "$root/scripts/with-test-keyring.sh" xvfb-run -a -s "-screen 0 1280x800x24" \
    /usr/bin/python3 "$root/scripts/packaging/tray_check.py" "$@"
}
tray_check artifacts/package-test-app.log /usr/bin/redline-desktop || status=$?
rm -rf "$runtime"
[ "$status" -eq 0 ] || fail "the installed app's tray check failed ($status); its output is in artifacts/package-test-app.log"
say "the installed app started hidden and showed its tray item ($((SECONDS - t0)) s)"

# --- 4. remove ---
t0=$SECONDS
apt_get remove --purge "$package" >/dev/null || fail "apt-get remove failed"
installed && fail "the package is still installed after apt-get remove"
hash -r
for command in redline redline-desktop; do
  [ "$(on_path "$command")" = "${before[$command]}" ] || fail "$command is still on PATH after removal: $(on_path "$command")"
done
for file in "${files[@]}"; do
  [ -d "$file" ] && continue
  [ ! -e "$file" ] || fail "$file is left after apt-get remove"
done
say "removed with apt in $((SECONDS - t0)) s: no redline or redline-desktop in /usr/bin, none of its ${#files[@]} paths left"

# --- 5. the AppImage ---
t0=$SECONDS
appimage_args=()
if [ ! -e /dev/fuse ] || ! command -v fusermount >/dev/null 2>&1 || ! ldconfig -p | grep -q 'libfuse\.so\.2'; then
  # The runtime mounts the image with libfuse2; where FUSE is missing it unpacks it instead.
  appimage_args=(--appimage-extract-and-run)
  say "no FUSE (libfuse2, /dev/fuse, fusermount) here: running the AppImage with --appimage-extract-and-run"
fi
work=$(mktemp -d -t redline-appimage-XXXXXX)
trap 'rm -rf "$work"; cleanup' EXIT
out=$(cd "$work" && "$appimage" "${appimage_args[@]}" --version) || fail "the AppImage's --version failed"
[ "$out" = "redline-desktop $version (commit $commit)" ] || fail "the AppImage's --version printed '$out'"
say "AppImage: $out"
ln -s "$appimage" "$work/redline"
out=$(cd "$work" && ./redline "${appimage_args[@]}" --version) || fail "the AppImage's command line (through a link named redline) failed"
[ "$out" = "redline $version (commit $commit)" ] || fail "the AppImage through a link named redline printed '$out'"
say "AppImage as redline: $out"
runtime=$(mktemp -d -t redline-package-test-XXXXXX)
chmod 700 "$runtime"
status=0
(cd "$work" && tray_check "$root/artifacts/package-test-appimage.log" "$appimage" "${appimage_args[@]}") || status=$?
rm -rf "$runtime"
[ "$status" -eq 0 ] || fail "the AppImage's tray check failed ($status); its output is in artifacts/package-test-appimage.log"
say "the AppImage started hidden with the system's WebKitGTK and showed its tray item ($((SECONDS - t0)) s)"

say "passed"
