#!/usr/bin/env bash
# The sandbox: patchwork end to end against the local world (moto + the ECS extension, dockerd, a
# loopback registry), no AWS account, only 127.0.0.1.
#
#   1. brings the local world up (idempotent) and resets moto (so a second run starts clean)
#   2. makes a temporary git repository (.sandbox/repo) holding a copy of webapp/ and a sandbox
#      patchwork.yml (environment `local`, the world's registry and region, desiredCount 1); commits
#   3. runs the normal CLI: provision → deploy → status → (a second commit changing the webapp's
#      greeting) deploy → rollback --to <first sha> → status → releases
#      each with --json (stdout to .sandbox/steps/<step>.ndjson; human output on the terminal)
#   4. prints a summary (step, exit code, seconds, API calls) and the loopback URL(s) where the
#      deployed containers answer; writes .sandbox/summary.json
#      {steps:[{name, exitCode, seconds, apiCalls}], firstSha, secondSha, urls, loadBalancer, ok}
# Exit 0 when every step exits 0, else 1 (the first failing step ends the run).
#
# Usage: npm run sandbox              run it
#        npm run sandbox -- --down    stop the local world and remove .sandbox/
# Env: SANDBOX_DIR (default <repo>/.sandbox)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
sandbox="${SANDBOX_DIR:-$root/.sandbox}"

die() { echo "sandbox: error: $*" >&2; exit 1; }
say() { echo "sandbox: $*" >&2; }

case "${1:-}" in
  --down)
    bash scripts/localworld.sh down
    rm -rf "$sandbox"
    say "stopped the local world and removed $sandbox"
    exit 0 ;;
  "") ;;
  -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  *) echo "usage: npm run sandbox [-- --down]" >&2; exit 2 ;;
esac

# Prerequisites the world script does not install itself.
command -v node >/dev/null 2>&1 || die "missing Node.js (>= 20); install it first, e.g. sudo apt-get install -y nodejs npm"
if ! command -v git >/dev/null 2>&1; then
  if [[ $(id -u) = 0 ]] && command -v apt-get >/dev/null 2>&1; then
    say "installing git (apt-get)"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null 2>&1 ||
      { apt-get update -qq >/dev/null 2>&1 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git >/dev/null 2>&1; } ||
      die "apt-get install git failed; install git first"
  else
    die "missing git; install it first: sudo apt-get install -y git"
  fi
fi
[[ -d node_modules ]] || die "missing node_modules; run: npm ci"

bash scripts/localworld.sh up || exit 1
bash scripts/localworld.sh reset >/dev/null || exit 1
eval "$(bash scripts/localworld.sh env)"
# webapp/Dockerfile builds FROM golang:<v>: made locally from this machine's Go (no Docker Hub).
go_image="golang:$(sed -n 's/^ARG GO_VERSION=//p' webapp/Dockerfile)"
if command -v go >/dev/null 2>&1 || [[ -x /usr/local/go/bin/go ]]; then
  [[ -x /usr/local/go/bin/go ]] && ! command -v go >/dev/null 2>&1 && export GO=/usr/local/go/bin/go
  bash scripts/golang-image.sh --quiet || die "could not make the $go_image builder image (see above)"
elif ! docker image inspect "$go_image" >/dev/null 2>&1; then
  die "missing Go (to make the $go_image builder image locally); install Go from https://go.dev/dl/ to /usr/local/go"
fi
if [[ ! -f dist/index.js || ! -f oclif.manifest.json ]]; then
  say "building patchwork (npm run build)"
  npm run build >/dev/null || die "npm run build failed"
fi

# ------------------------------------------------------------------ the sandbox repository
repo="$sandbox/repo"
steps="$sandbox/steps"
rm -rf "$repo" "$steps" "$sandbox/summary.json"
mkdir -p "$repo" "$steps"
cp -R webapp "$repo/webapp"
rm -rf "$repo/webapp/webapp" "$repo/webapp/bin"
cat > "$repo/patchwork.yml" <<YAML
# Written by scripts/sandbox.sh: the webapp of this repository, deployed to the local world.
app: sandbox
region: ${AWS_REGION}
registry: "${PATCHWORK_REGISTRY}"
services:
  web:
    build: { context: webapp }
    port: 8080
    healthCheck: { path: /healthz }
environments:
  local: { desiredCount: 1 }
deploy: { pollSeconds: 1, timeoutSeconds: 300 }
YAML
g() {
  git -C "$repo" -c user.name="patchwork sandbox" -c user.email="sandbox@patchwork.invalid" \
    -c commit.gpgsign=false "$@"
}
g init -q -b main
g add -A
g commit -q -m "webapp: first release"
first_sha=$(g rev-parse HEAD)
second_sha=""

# ------------------------------------------------------------------ the steps
# One line per step in $steps/index.tsv: name, exit code, seconds, file with the --json output.
: >"$steps/index.tsv"
failed=""
run_step() { # name args...
  local name=$1; shift
  local out="$steps/$name.ndjson" t0 t1 code
  echo >&2
  echo "\$ patchwork $* --env local --json   # [$name]" >&2
  t0=$EPOCHREALTIME
  set +e
  (cd "$repo" && node "$root/bin/run.js" "$@" --env local --json) >"$out"
  code=$?
  set -e
  t1=$EPOCHREALTIME
  printf '%s\t%s\t%s\t%s\n' "$name" "$code" "$(awk -v a="$t0" -v b="$t1" 'BEGIN{printf "%.1f", b-a}')" "$out" \
    >>"$steps/index.tsv"
  if [[ $code -ne 0 ]]; then
    failed=$name
    say "step $name exited $code (its --json output: $out)"
    return 1
  fi
}

flow() {
  run_step provision provision --yes || return 1
  run_step deploy-1 deploy --yes || return 1
  run_step status-1 status || return 1
  # A second release as a user would make it: a change to the webapp's source, committed.
  sed -i 's/"hello from patchwork webapp"/"hello from patchwork webapp, second release"/' "$repo/webapp/app.go"
  grep -q 'second release' "$repo/webapp/app.go" || { say "could not change webapp/app.go"; failed=commit; return 1; }
  g commit -q -am "webapp: second release (new greeting)"
  second_sha=$(g rev-parse HEAD)
  echo >&2
  echo "\$ git commit -am 'webapp: second release (new greeting)'   # ${second_sha:0:7}" >&2
  run_step deploy-2 deploy --yes || return 1
  run_step rollback rollback --to "$first_sha" --yes || return 1
  run_step status-2 status || return 1
  run_step releases releases || return 1
}
flow || true

# ------------------------------------------------------------------ the summary
SANDBOX_DIR="$sandbox" FIRST_SHA="$first_sha" SECOND_SHA="$second_sha" FAILED="$failed" \
  node --input-type=module -e '
import { readFileSync, writeFileSync } from "node:fs";
const dir = process.env.SANDBOX_DIR;
const lastResult = (file) => {
  try {
    const lines = readFileSync(file, "utf8").trim().split("\n").filter(Boolean);
    for (let i = lines.length - 1; i >= 0; i--) {
      try { const o = JSON.parse(lines[i]); if (o.type === "result") return o; } catch {}
    }
  } catch {}
  return undefined;
};
const steps = readFileSync(`${dir}/steps/index.tsv`, "utf8").trim().split("\n").filter(Boolean).map((l) => {
  const [name, code, secs, output] = l.split("\t");
  const r = lastResult(output);
  return { name, exitCode: Number(code), seconds: Number(secs), apiCalls: r?.apiCalls?.total ?? null, output };
});
// Where the deployed containers answer: the emulator lists live tasks with their loopback address.
let urls = [];
try {
  const res = await fetch(`${process.env.AWS_ENDPOINT_URL}/_patchwork/tasks`);
  const body = await res.json();
  const tasks = Array.isArray(body) ? body : (body.tasks ?? []);
  for (const t of tasks) {
    const addrs = [t.address, ...(t.targets ?? []).map((x) => x.id && x.port ? `${x.id}:${x.port}` : undefined)];
    for (const a of addrs) {
      if (typeof a === "string" && /^(127\.|localhost)/.test(a) && /:\d+$/.test(a)) urls.push(`http://${a}/`);
    }
  }
} catch (e) { console.error(`sandbox: could not list tasks: ${e.message}`); }
urls = [...new Set(urls)];
// The load balancer: the emulator serves its HTTP listeners on the loopback address it gave as DNSName.
const statusStep = steps.filter((s) => s.name.startsWith("status")).at(-1);
const loadBalancer = (statusStep && lastResult(statusStep.output)?.status?.url) || null;
const ok = !process.env.FAILED && steps.length === 7 && steps.every((s) => s.exitCode === 0);
const summary = { ok, steps, firstSha: process.env.FIRST_SHA, secondSha: process.env.SECOND_SHA || null, urls, loadBalancer };
writeFileSync(`${dir}/summary.json`, `${JSON.stringify(summary, null, 2)}\n`);
const pad = (s, n) => String(s).padEnd(n);
const out = [];
out.push("", "sandbox summary", "");
out.push(`  ${pad("step", 10)} ${pad("exit", 5)} ${pad("seconds", 8)} API calls`);
for (const s of steps) out.push(`  ${pad(s.name, 10)} ${pad(s.exitCode, 5)} ${pad(s.seconds.toFixed(1), 8)} ${s.apiCalls ?? "-"}`);
out.push("", `  first release  ${process.env.FIRST_SHA}`, `  second release ${process.env.SECOND_SHA || "-"}`);
if (urls.length) {
  out.push("", "  the deployed webapp answers on:");
  for (const u of urls) {
    let line = `    ${u}`;
    try {
      const r = await fetch(u, { signal: AbortSignal.timeout(3000) });
      const b = await r.json();
      line += `  -> ${r.status} ${JSON.stringify({ message: b.message, sha: b.sha })}`;
    } catch {}
    out.push(line);
  }
} else out.push("", "  no container of the sandbox is running on loopback");
if (loadBalancer) {
  let line = `  through the load balancer: ${loadBalancer}/`;
  try {
    const r = await fetch(`${loadBalancer}/`, { signal: AbortSignal.timeout(3000) });
    const b = await r.json();
    line += `  -> ${r.status} ${JSON.stringify({ message: b.message, sha: b.sha })}`;
  } catch (e) { line += `  (no answer: ${e.message})`; }
  out.push(line);
}
out.push("", `  ${ok ? "all steps succeeded" : `FAILED at ${process.env.FAILED || "?"}`}; JSON: ${dir}/summary.json`);
console.log(out.join("\n"));
'
echo
echo "sandbox: local world up (AWS at ${AWS_ENDPOINT_URL}, registry ${PATCHWORK_REGISTRY}); stop it with: npm run sandbox -- --down"
[[ -z "$failed" ]] || exit 1
