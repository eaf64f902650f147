#!/usr/bin/env bash
# Runs every check and test, installing what they need on a fresh Debian/Ubuntu machine.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null 2>&1 || { echo "test: Rust is not installed; install it with rustup (https://rustup.rs)" >&2; exit 1; }

step "System packages"
scripts/setup-linux.sh test

step "Python packages for the tests: openai, anthropic SDKs and the prometheus-client parser (PyPI)"
if [ ! -x target/sdk-venv/bin/python ]; then
  mkdir -p target
  python3 -m venv target/sdk-venv
fi
target/sdk-venv/bin/pip install --quiet --disable-pip-version-check openai anthropic prometheus-client
export REDLINE_TEST_PYTHON="$PWD/target/sdk-venv/bin/python"

step "Formatting (cargo fmt --check)"
cargo fmt --all -- --check

step "Lints (cargo clippy, warnings are errors)"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "Tests, against a private gnome-keyring Secret Service on a private D-Bus session"
log=$(mktemp -t redline-test-XXXXXX.log)
trap 'rm -f "$log"' EXIT
set +e
dbus-run-session -- scripts/with-test-keyring.sh cargo test --workspace --all-targets --locked 2>&1 | tee "$log"
status=${PIPESTATUS[0]}
set -e

step "Dashboard end to end in headless Chromium (tests/ui, playwright-core from npm)"
target_dir="${CARGO_TARGET_DIR:-$PWD/target}"
(cd tests/ui && npm ci --no-audit --no-fund --loglevel=error)
set +e
cargo build --locked --bin redline --example fake_provider &&
  CARGO_TARGET_DIR="$target_dir" dbus-run-session -- scripts/with-test-keyring.sh \
    node --test --test-reporter=tap tests/ui/format.test.js tests/ui/dashboard.test.js 2>&1 | tee -a "$log"
ui_status=${PIPESTATUS[0]}
set -e
[ "$status" -ne 0 ] || status=$ui_status
echo "Screenshots of the dashboard tests: artifacts/"

step "Desktop smoke test: redline-desktop --demo on Xvfb, tray and notifications over D-Bus"
# Screenshot, tray icons and the app's output land in artifacts/.
smoke=passed
if ! { cargo build -p redline-desktop --locked && tests/desktop/smoke.sh; }; then
  smoke=failed
  status=1
fi

# One closing line with the totals over every test binary and the browser tests.
awk '/^test result:/ { passed += $4; failed += $6; ignored += $8 }
     /^# pass /    { passed += $3 }
     /^# fail /    { failed += $3 }
     /^# skipped / { ignored += $3 }
     END { printf "\nTests: %d passed, %d failed, %d skipped\n", passed, failed, ignored }' "$log"
echo "Desktop smoke test: $smoke"
exit "$status"
