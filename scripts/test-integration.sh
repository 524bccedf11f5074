#!/usr/bin/env bash
# The integration project in shards that run at once, each against its own local world: shard 1
# uses .localworld/, shard N its own moto and registry in .localworld-shardN/ (the venv and the
# Docker engine shared). A file spends most of its time waiting (rollouts, the world's read lag,
# health checks), so three shards cut the wall time to about 40% even on 2 cores. Within a shard, files
# run one at a time (each resets its world).
#   bash scripts/test-integration.sh [vitest args…]     PATCHWORK_TEST_SHARDS=1 for one serial run
# Each line of output is prefixed with its shard; exit status: the first failing shard's, else 0.
set -uo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
shards=${PATCHWORK_TEST_SHARDS:-3}
if [[ $shards -le 1 ]]; then
  exec npx vitest run --project integration --no-file-parallelism "$@"
fi

# Shard 1's world first: it makes the venv the others share.
bash scripts/localworld.sh up || exit 1
logs=$(mktemp -d)
pids=()
for ((i = 1; i <= shards; i++)); do
  dir="$root/.localworld"
  if ((i > 1)); then
    dir="$root/.localworld-shard$i"
    mkdir -p "$dir"
    [[ -e $dir/venv ]] || ln -s "$root/.localworld/venv" "$dir/venv"
    LOCALWORLD_DIR="$dir" bash scripts/localworld.sh up || exit 1
  fi
  (
    LOCALWORLD_DIR="$dir" npx vitest run --project integration --no-file-parallelism --shard="$i/$shards" "$@" 2>&1 |
      sed -u "s/^/[shard $i] /"
    echo "${PIPESTATUS[0]}" >"$logs/rc$i"
  ) &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done
rc=0
for ((i = 1; i <= shards; i++)); do
  code=$(cat "$logs/rc$i" 2>/dev/null || echo 1)
  echo "integration shard $i/$shards: exit $code" >&2
  [[ $rc -eq 0 && $code -ne 0 ]] && rc=$code
done
rm -rf "$logs"
exit "$rc"
