#!/usr/bin/env bash
# Install the pinned agent CLIs (scripts/agents.lock.json) from the npm registry
# into a private npm prefix, reused when already present with the right versions.
#
#   scripts/install-agents.sh            # prints the bin dir on stdout
#   TETHER_AGENTS_DIR=/some/dir scripts/install-agents.sh
#
# Exit status is non-zero, with a message on stderr, if any install fails.
# Layout of the cache dir:
#   package.json, node_modules/       the CLIs (npm prefix)
#   node_modules/.bin/                the bin dir printed on stdout
#   opencode-plugin/                  @opencode-ai/plugin pre-installed; tests copy
#                                     its node_modules + package.json into
#                                     OpenCode's config dir so it never installs
#                                     it in the background.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
lock="${TETHER_AGENTS_LOCK:-$here/agents.lock.json}"
dir="${TETHER_AGENTS_DIR:-$HOME/.cache/tether/agents}"

die() { echo "install-agents: ERROR: $*" >&2; exit 1; }
log() { echo "install-agents: $*" >&2; }

command -v node >/dev/null || die "node is not on PATH (need node >= 20)"
command -v npm >/dev/null || die "npm is not on PATH"
[ -f "$lock" ] || die "lock file not found: $lock"

node_major="$(node -p 'process.versions.node.split(".")[0]')"
[ "$node_major" -ge 20 ] || die "node >= 20 required, found $(node -v)"

# Everything below that needs JSON goes through one small node helper.
# check: prints the list of problems (empty = installed and pinned correctly).
check() {
  node - "$lock" "$dir" <<'JS'
const fs = require("fs"), path = require("path");
const [lockPath, dir] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"));
const problems = [];
const ver = (root, name) => {
  try { return JSON.parse(fs.readFileSync(path.join(root, "node_modules", name, "package.json"), "utf8")).version; }
  catch { return null; }
};
for (const [name, want] of Object.entries(lock.packages)) {
  const root = name === "@opencode-ai/plugin" ? path.join(dir, "opencode-plugin") : dir;
  const got = ver(root, name);
  if (got !== want) problems.push(`${name}: want ${want}, have ${got ?? "nothing"}`);
}
for (const bin of Object.keys(lock.bins)) {
  const p = path.join(dir, "node_modules", ".bin", bin);
  if (!fs.existsSync(p)) problems.push(`bin ${bin} missing`);
}
// Codex ships its native binary in a platform package (optional dependency).
const plat = { linux: "linux", darwin: "darwin", win32: "win32" }[process.platform];
const arch = { x64: "x64", arm64: "arm64" }[process.arch];
const codexNative = path.join(dir, "node_modules", "@openai", `codex-${plat}-${arch}`);
if (!fs.existsSync(codexNative)) problems.push(`codex native package @openai/codex-${plat}-${arch} missing`);
process.stdout.write(problems.join("\n"));
JS
}

write_manifests() {
  node - "$lock" "$dir" <<'JS'
const fs = require("fs"), path = require("path");
const [lockPath, dir] = process.argv.slice(2);
const lock = JSON.parse(fs.readFileSync(lockPath, "utf8"));
const deps = {}, plugin = {};
for (const [name, v] of Object.entries(lock.packages)) {
  (name === "@opencode-ai/plugin" ? plugin : deps)[name] = v;
}
fs.mkdirSync(path.join(dir, "opencode-plugin"), { recursive: true });
fs.writeFileSync(path.join(dir, "package.json"),
  JSON.stringify({ name: "tether-agents", private: true, dependencies: deps }, null, 2) + "\n");
fs.writeFileSync(path.join(dir, "opencode-plugin", "package.json"),
  JSON.stringify({ dependencies: plugin }, null, 2) + "\n");
JS
}

mkdir -p "$dir"
# Serialize concurrent runs (e.g. pytest-xdist workers) on the same cache dir.
if command -v flock >/dev/null; then
  exec 9>"$dir/.install.lock"
  flock -w 900 9 || die "timed out waiting for another install into $dir"
fi
problems="$(check)"
if [ -z "$problems" ]; then
  log "pinned agents already installed in $dir"
  echo "$dir/node_modules/.bin"
  exit 0
fi
log "installing pinned agents into $dir:"
printf '%s\n' "$problems" | sed 's/^/  - /' >&2

start=$(date +%s)
write_manifests
npm_flags=(--no-audit --no-fund --include=optional --save-exact --loglevel=error --no-update-notifier)
( cd "$dir" && npm install "${npm_flags[@]}" ) >&2 \
  || die "npm install of the agent CLIs failed in $dir (see npm output above)"
( cd "$dir/opencode-plugin" && npm install "${npm_flags[@]}" ) >&2 \
  || die "npm install of @opencode-ai/plugin failed in $dir/opencode-plugin"

# npm sometimes skips optional deps (e.g. an existing lockfile from another
# platform); install Codex's platform package explicitly if it is missing.
if check | grep -q 'codex native'; then
  codex_ver="$(node -p "require('$lock').packages['@openai/codex']")"
  plat="$(node -p 'process.platform')-$(node -p 'process.arch')"
  log "codex native package missing; installing @openai/codex-$plat explicitly"
  ( cd "$dir" && npm install "${npm_flags[@]}" --no-save \
      "@openai/codex-$plat@npm:@openai/codex@$codex_ver-$plat" ) >&2 \
    || die "could not install Codex native package @openai/codex-$plat"
fi

problems="$(check)"
[ -z "$problems" ] || die "install finished but the result is wrong:
$problems"
log "installed in $(( $(date +%s) - start ))s"
echo "$dir/node_modules/.bin"
