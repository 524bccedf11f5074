#!/usr/bin/env bash
# The sandbox: patchwork against the local world (moto + ECS extension, dockerd, registry), no AWS
# account. Today it brings the world up, writes a sandbox config and runs `patchwork doctor` and
# `patchwork --help`; the full provision → deploy → rollback flow arrives with issue #9.
# Usage: npm run sandbox [-- --down]
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

if [[ "${1:-}" == "--down" ]]; then
  exec bash scripts/localworld.sh down
fi

bash scripts/localworld.sh up
eval "$(bash scripts/localworld.sh env)"
[[ -f dist/index.js ]] || npm run build >/dev/null

mkdir -p .sandbox
cat > .sandbox/patchwork.yml <<YAML
# Written by scripts/sandbox.sh: the webapp in this repository, deployed to the local world.
app: sandbox
region: ${AWS_REGION}
registry: ${PATCHWORK_REGISTRY}
services:
  web:
    build: { context: ../webapp }
    port: 8080
    healthCheck: { path: /healthz }
environments:
  local: { desiredCount: 1 }
YAML

step() { echo; echo "\$ patchwork $*"; node bin/run.js "$@"; }
step --help
step doctor --env local --config .sandbox/patchwork.yml
echo
echo "sandbox: local world up (AWS at ${AWS_ENDPOINT_URL}, registry ${PATCHWORK_REGISTRY}); stop it with: npm run sandbox -- --down"
