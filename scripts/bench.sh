#!/usr/bin/env bash
# Runs the proxy benchmark (benches/README.md): Redline's daemon and nginx side by side in front
# of the same fake upstream, on loopback only. Takes two to three minutes; writes
# benches/results.md.
#   scripts/bench.sh
# Knobs (environment): REDLINE_BENCH_REQUESTS (3000), REDLINE_BENCH_SECONDS (5),
# REDLINE_BENCH_ROUNDS (3), REDLINE_BENCH_STREAMS (40); CARGO_TARGET_DIR as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

step() { printf '\n==> %s\n' "$*"; }

command -v cargo >/dev/null 2>&1 || { echo "bench: Rust is not installed; install it with rustup (https://rustup.rs)" >&2; exit 1; }

step "System packages (the test keyring, and nginx as the baseline)"
scripts/setup-linux.sh test
if ! command -v nginx >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "bench: nginx is missing and this is not a Debian/Ubuntu system; install nginx and run me again" >&2
    exit 1
  fi
  sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    command -v sudo >/dev/null 2>&1 || { echo "bench: run as root or install sudo to install nginx" >&2; exit 1; }
    sudo=(sudo)
  fi
  echo "bench: installing nginx (the benchmark starts its own instance; the system service is not used)"
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q --no-install-recommends nginx
fi

step "Release build of the daemon"
cargo build --release --locked --bin redline
# The daemon measured is this build, as users get it. (`cargo bench` rebuilds the same path with
# the dev-dependencies' features unified in, so it is copied aside first.)
binary=$(cargo build --release --locked --bin redline --message-format=json 2>/dev/null \
  | grep -o '"executable":"[^"]*"' | tail -n 1 | cut -d'"' -f4)
[ -x "$binary" ] || { echo "bench: cannot find the redline binary cargo built" >&2; exit 1; }
bindir=$(mktemp -d -t redline-bench-bin-XXXXXX)
trap 'rm -rf "$bindir"' EXIT
cp "$binary" "$bindir/redline"
export REDLINE_BENCH_BIN="$bindir/redline"

step "Benchmark (a private Secret Service on a private D-Bus session holds the daemon's token)"
dbus-run-session -- scripts/with-test-keyring.sh cargo bench --locked --bench proxy
