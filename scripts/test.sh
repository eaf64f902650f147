#!/usr/bin/env bash
# Runs every check and test, installing what they need on a fresh Debian/Ubuntu machine.
#
# One build serves every step: `cargo test --no-run` builds the tests, and the binaries the
# browser and desktop tests run (`redline`, `redline-desktop`, the fake provider) come from a
# `cargo build --workspace` with the same features, so no crate is compiled twice for them.
# (Clippy still checks everything once more: it needs its own metadata-only compile.)
#
# Every step that runs tests has a deadline outside it (`timeout`): a hang fails the run with a
# message naming the step, never blocks CI. Times of each step are printed at the end.
set -euo pipefail
cd "$(dirname "$0")/.."

command -v cargo >/dev/null 2>&1 || { echo "test: Rust is not installed; install it with rustup (https://rustup.rs)" >&2; exit 1; }

target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
export CARGO_TARGET_DIR="$target_dir"
log=$(mktemp -t redline-test-XXXXXX.log)
trap 'rm -f "$log" "$log.attempt"' EXIT
times=()
status=0
step_name=""
step_started=0

step() {
  finish_step
  step_name=$1
  step_started=$SECONDS
  printf '\n==> %s\n' "$step_name"
}

finish_step() {
  [ -n "$step_name" ] && times+=("$(printf '%4ds  %s' $((SECONDS - step_started)) "$step_name")")
  step_name=""
}

# Runs a command under a deadline and says so when it ran out. `timeout` signals the command's
# whole process group: the test processes, the bus and the keyring daemon under it end too.
bounded() {
  local limit=$1
  shift
  local code=0
  timeout --kill-after=30 "$limit" "$@" || code=$?
  if [ "$code" -eq 124 ] || [ "$code" -eq 137 ]; then
    echo "test: FAIL: '$step_name' did not finish within $limit s and was stopped" >&2
  fi
  return "$code"
}

step "System packages"
scripts/setup-linux.sh test

step "Python packages for the tests: openai, anthropic SDKs (with their brotli and zstd decoders) and the prometheus-client parser (PyPI)"
if [ ! -x "$target_dir/sdk-venv/bin/python" ]; then
  mkdir -p "$target_dir"
  python3 -m venv "$target_dir/sdk-venv"
fi
"$target_dir/sdk-venv/bin/pip" install --quiet --disable-pip-version-check openai anthropic brotli backports.zstd prometheus-client
export REDLINE_TEST_PYTHON="$target_dir/sdk-venv/bin/python"

step "Browser test packages: playwright-core (npm)"
(cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)

step "Formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "Lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Build: the tests, then the binaries the browser and desktop tests run"
cargo test --workspace --all-targets --locked --no-run
cargo build --workspace --bins --examples --locked

step "Tests, against a private gnome-keyring Secret Service on a private D-Bus session"
# A failing step marks the run failed and the others still run, so one does not hide the rest.
# The real-tools tests run in the next step (skipped here rather than counted as ignored).
# If gnome-keyring itself aborted under the tests (with-test-keyring.sh exits 3 and shows what it
# printed), the tests run once more on a new keyring and only that run is counted; the first
# run's output stays in what this step prints.
set +e
attempt="$log.attempt"
for try in 1 2; do
  bounded 1200 dbus-run-session -- scripts/with-test-keyring.sh \
    cargo test --workspace --all-targets --locked -- --skip real_tools:: 2>&1 | tee "$attempt"
  code=${PIPESTATUS[0]}
  if [ "$code" -ne 3 ] || [ "$try" -eq 2 ]; then break; fi
  echo "test: the tests' gnome-keyring-daemon died under them (see its words above): running the tests again on a new one" >&2
done
cat "$attempt" >> "$log"
rm -f "$attempt"
[ "$code" -eq 0 ] || status=1
set -e

step "Real tools through \`redline connect\`: Claude Code, Codex, OpenClaw from npm (tests/tools)"
# Installed once into target/tools-npm at the versions in tests/tools/package-lock.json (the
# first time downloads about 1.7 GB unpacked and takes a minute or two); then each tool answers
# one prompt through the daemon, each run under its own deadline inside the tests.
set +e
bounded 900 tests/tools/install.sh "$target_dir/tools-npm" 2>&1 | tee -a "$log"
if [ "${PIPESTATUS[0]}" -eq 0 ]; then
  bounded 420 dbus-run-session -- scripts/with-test-keyring.sh \
    tests/tools/run.sh "$target_dir/tools-npm" 2>&1 | tee -a "$log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || status=1
else
  echo "test: FAIL: the tools for '$step_name' could not be installed" >&2
  status=1
fi
set -e

step "Dashboard end to end in headless Chromium (tests/ui, playwright-core from npm)"
set +e
bounded 600 dbus-run-session -- scripts/with-test-keyring.sh \
  node --test --test-reporter=tap tests/ui/format.test.js tests/ui/dashboard.test.js 2>&1 | tee -a "$log"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
set -e
echo "Screenshots of the dashboard tests: artifacts/"

step "Desktop smoke test: redline-desktop --demo on Xvfb, tray and notifications over D-Bus"
# Screenshot, tray icons and the app's output land in artifacts/. smoke.sh bounds itself.
smoke=passed
tests/desktop/smoke.sh "$target_dir/debug/redline-desktop" || { smoke=failed; status=1; }

step "Packages: the .deb and AppImage of this build installed, run in a tray and removed; the release recipes (actionlint, PKGBUILD, cask)"
# --debug bundles the debug build above with Tauri's bundler in a minute or two; the release
# packages differ only in the compile profile (scripts/package.sh, a release build). See
# scripts/package-test.sh for what the install test checks.
packages=passed
bounded 600 scripts/package.sh --debug --bundles deb,appimage &&
  bounded 300 scripts/package-test.sh "$target_dir/packages-debug" &&
  bounded 300 scripts/packaging/check-recipes.sh || { packages=failed; status=1; }
finish_step

printf '\nTime per step:\n'
printf '%s\n' "${times[@]}"
printf '%4ds  in all\n' "$SECONDS"

# One closing line with the totals over every test binary and the browser tests.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     /^# pass /    { passed += $3 }
     /^# fail /    { failed += $3 }
     /^# skipped / { ignored += $3 }
     END { printf "\nTests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
echo "Desktop smoke test: $smoke"
echo "Packages: $packages"
exit "$status"
