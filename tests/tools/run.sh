#!/usr/bin/env bash
# The real tools end to end (tests/engine/real_tools.rs): installs them if needed
# (install.sh), then runs those tests, which are ignored by a plain `cargo test`. They need a
# private keyring like the engine's other tests:
#
#   dbus-run-session -- scripts/with-test-keyring.sh tests/tools/run.sh [CACHE_DIR]
#
# Each tool run has its own deadline inside the tests; scripts/test.sh bounds the whole.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${1:-${CARGO_TARGET_DIR:-$root/target}/tools-npm}
"$here/install.sh" "$cache"
export REDLINE_TOOLS_DIR
REDLINE_TOOLS_DIR="$(cd "$cache" && pwd)/node_modules"
cd "$root"
# One thread per tool: OpenClaw takes the longest, the other two run beside it.
exec cargo test --locked --test engine real_tools -- --ignored --nocapture --test-threads=3
