#!/usr/bin/env bash
# localworld.sh — the local world that patchwork's integration tests and the
# sandbox run against. Everything listens on 127.0.0.1 only.
#
#   AWS       moto server (pinned, test/emulator/requirements.txt) with
#             patchwork's extension (test/emulator/launcher.py): ECS services
#             get real deployments, tasks can run as containers.
#   Docker    the local engine; started here (dockerd) when none answers.
#   Registry  Debian's docker-registry on 127.0.0.1:<free port>, and a second one (registry-b)
#             standing for another account's or region's registry.
#
# Usage: scripts/localworld.sh up|down|env|status|reset
#   up      install what is missing (apt: docker.io docker-registry awscli curl bsdutils;
#           a venv for moto), start what is not running, reuse what is;
#           write .localworld/env.json and .localworld/env.sh
#   env     print export lines:  eval "$(scripts/localworld.sh env)"
#   status  what is running
#   reset   POST /moto-api/reset (also clears the extension and its containers)
#   down    stop moto, the registry, task containers, and dockerd if this
#           script started it
# State (pids, ports, logs, venv, registry data): .localworld/ at the repo root.
# Env: PYTHON (python for the venv, default python3), LOCALWORLD_DIR (state dir).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STATE=${LOCALWORLD_DIR:-$ROOT/.localworld}
VENV=$STATE/venv
REQ=$ROOT/test/emulator/requirements.txt
LAUNCHER=$ROOT/test/emulator/launcher.py
REGION=eu-west-1

say() { echo "localworld: $*" >&2; }
die() { echo "localworld: error: $*" >&2; exit 1; }

usage() { sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; }

is_root() { [ "$(id -u)" = 0 ]; }

http_ok() { # url -> 0 when it answers 2xx
  curl -fsS -o /dev/null --max-time 2 "$1" 2>/dev/null
}

pid_alive() { # pidfile
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

free_port() {
  "${PYTHON:-python3}" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

aws_cli_path() {
  if [ -x /usr/bin/aws ]; then echo /usr/bin/aws; else command -v aws || true; fi
}

wait_for() { # seconds description command...
  local secs=$1 what=$2; shift 2
  local deadline=$((SECONDS + secs))
  until "$@"; do
    [ "$SECONDS" -lt "$deadline" ] || return 1
    sleep 0.2
  done
  return 0
}

stop_pidfile() { # pidfile name
  local f=$1 name=$2 pid
  if pid_alive "$f"; then
    pid=$(cat "$f")
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then kill -9 "$pid" 2>/dev/null || true; fi
    say "stopped $name (pid $pid)"
  fi
  rm -f "$f"
}

# ---------------------------------------------------------------- up, step by step

ensure_packages() {
  local need=()
  command -v docker >/dev/null 2>&1 && command -v dockerd >/dev/null 2>&1 || need+=(docker.io)
  [ -x /usr/bin/docker-registry ] || need+=(docker-registry)
  [ -n "$(aws_cli_path)" ] || need+=(awscli)
  command -v curl >/dev/null 2>&1 || need+=(curl)
  # util-linux `script`: the pty tests (test/integration/terminal.test.ts) run the CLI in a terminal.
  command -v script >/dev/null 2>&1 || need+=(bsdutils)
  "${PYTHON:-python3}" -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
  [ "${#need[@]}" -eq 0 ] && return 0
  is_root || die "missing ${need[*]}; install them first: sudo apt-get install -y ${need[*]}"
  command -v apt-get >/dev/null 2>&1 || die "missing ${need[*]} and there is no apt-get to install them"
  say "installing ${need[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >"$STATE/apt.log" 2>&1 || { tail -5 "$STATE/apt.log" >&2; die "apt-get update failed (see $STATE/apt.log)"; }
  apt-get install -y -qq "${need[@]}" >>"$STATE/apt.log" 2>&1 ||
    { tail -5 "$STATE/apt.log" >&2; die "apt-get install ${need[*]} failed (see $STATE/apt.log)"; }
}

ensure_venv() {
  local stamp
  stamp=$(sha256sum "$REQ" | cut -d' ' -f1)
  if [ -x "$VENV/bin/python" ] && [ "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" = "$stamp" ]; then
    return 0
  fi
  say "creating the emulator venv ($VENV) from test/emulator/requirements.txt"
  [ -x "$VENV/bin/python" ] || "${PYTHON:-python3}" -m venv "$VENV" || die "python3 -m venv failed (apt-get install python3-venv)"
  pip_install_with_progress ||
    { tail -15 "$STATE/pip.log" >&2; die "pip install -r test/emulator/requirements.txt failed (see $STATE/pip.log)"; }
  echo "$stamp" >"$VENV/.requirements.sha256"
}

# pip install -r $REQ, its whole log in $STATE/pip.log, and a progress line on stderr: one line
# redrawn in a terminal, a line every 10 packages otherwise (CI logs stay short).
pip_install_with_progress() {
  local total n=0 line pkg started=$SECONDS tty=0
  total=$(grep -cvE '^[[:space:]]*(#|$)' "$REQ")
  [ -t 2 ] && tty=1
  progress() {
    if [ "$tty" = 1 ]; then printf '\rlocalworld: %s [%ss]\033[K' "$1" "$((SECONDS - started))" >&2
    else echo "localworld: $1 [$((SECONDS - started))s]" >&2; fi
  }
  "$VENV/bin/python" -m pip install --disable-pip-version-check --progress-bar off -r "$REQ" 2>&1 |
    tee "$STATE/pip.log" | while IFS= read -r line; do
      case "$line" in
        Collecting*)
          n=$((n + 1)); pkg=${line#Collecting }; pkg=${pkg%% *}
          if [ "$tty" = 1 ] || [ $((n % 10)) -eq 0 ] || [ "$n" -eq 1 ]; then progress "venv: fetching $n/$total $pkg"; fi ;;
        "Installing collected packages"*) progress "venv: installing $total packages" ;;
      esac
    done
  local rc=${PIPESTATUS[0]}
  [ "$tty" = 1 ] && printf '\n' >&2
  [ "$rc" -eq 0 ] && say "venv ready in $((SECONDS - started)) s"
  return "$rc"
}

emulator_code_hash() {
  cat "$REQ" "$LAUNCHER" "$ROOT"/test/emulator/pwemu/*.py | sha256sum | cut -d' ' -f1
}

moto_answers() { # port
  curl -fsS --max-time 2 "http://127.0.0.1:$1/_patchwork/health" 2>/dev/null | grep -q '"emulator": "patchwork"'
}

ensure_moto() {
  local port code
  code=$(emulator_code_hash)
  if [ -s "$STATE/moto.port" ]; then
    port=$(cat "$STATE/moto.port")
    if moto_answers "$port" && [ "$(cat "$STATE/moto.codehash" 2>/dev/null)" = "$code" ]; then
      MOTO_PORT=$port
      return 0
    fi
    if moto_answers "$port"; then say "emulator code changed: restarting moto"; fi
    stop_pidfile "$STATE/moto.pid" moto
  else
    stop_pidfile "$STATE/moto.pid" moto
    port=$(free_port)
  fi
  # A moto we did not start may hold the recorded port: pick another.
  if curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$port/" 2>/dev/null; then port=$(free_port); fi
  say "starting moto on 127.0.0.1:$port"
  MOTO_IAM_LOAD_MANAGED_POLICIES=true setsid "$VENV/bin/python" "$LAUNCHER" --host 127.0.0.1 --port "$port" --ca-dir "$STATE/ca" \
    >>"$STATE/moto.log" 2>&1 </dev/null 8>&- &
  echo $! >"$STATE/moto.pid"
  echo "$port" >"$STATE/moto.port"
  if ! wait_for 60 moto moto_answers "$port"; then
    tail -20 "$STATE/moto.log" >&2
    die "moto did not answer on 127.0.0.1:$port within 60 s (see $STATE/moto.log)"
  fi
  echo "$code" >"$STATE/moto.codehash"
  MOTO_PORT=$port
}

docker_answers() { docker info >/dev/null 2>&1; }

ensure_docker() {
  if docker_answers; then return 0; fi
  if pid_alive "$STATE/dockerd.pid"; then
    wait_for 60 docker docker_answers && return 0
  fi
  is_root || die "no Docker engine answers and starting dockerd needs root (start it: sudo dockerd, or sudo service docker start)"
  say "starting dockerd (log: $STATE/dockerd.log)"
  setsid dockerd >>"$STATE/dockerd.log" 2>&1 </dev/null 8>&- &
  echo $! >"$STATE/dockerd.pid"
  if ! wait_for 60 docker docker_answers; then
    tail -20 "$STATE/dockerd.log" >&2
    die "dockerd did not answer within 60 s (see $STATE/dockerd.log)"
  fi
}

registry_answers() { # port
  http_ok "http://127.0.0.1:$1/v2/"
}

# ensure_registry NAME: a docker-registry with its own port and storage ($STATE/NAME*), its port in
# REGISTRY_PORT. Two are started: `registry`, and `registry-b`, the registry of a second account or
# region (ECR has one registry per account and region; a promotion across them copies the image
# from one to the other, so a test needs two distinct registries: test/emulator/README.md
# "Several accounts").
ensure_registry() {
  local name=${1:-registry} port
  if [ -s "$STATE/$name.port" ]; then
    port=$(cat "$STATE/$name.port")
    if pid_alive "$STATE/$name.pid" && registry_answers "$port"; then
      REGISTRY_PORT=$port
      return 0
    fi
  fi
  stop_pidfile "$STATE/$name.pid" "$name"
  port=$(free_port)
  mkdir -p "$STATE/$name"
  cat >"$STATE/$name.yml" <<EOF
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: $STATE/$name
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  headers:
    X-Content-Type-Options: [nosniff]
EOF
  say "starting docker-registry ($name) on 127.0.0.1:$port"
  setsid /usr/bin/docker-registry serve "$STATE/$name.yml" >>"$STATE/$name.log" 2>&1 </dev/null 8>&- &
  echo $! >"$STATE/$name.pid"
  echo "$port" >"$STATE/$name.port"
  if ! wait_for 30 "$name" registry_answers "$port"; then
    tail -20 "$STATE/$name.log" >&2
    die "docker-registry ($name) did not answer on 127.0.0.1:$port within 30 s (see $STATE/$name.log)"
  fi
  REGISTRY_PORT=$port
}

ensure_golang_image() {
  [ -f "$ROOT/scripts/golang-image.sh" ] || return 0
  if ! bash "$ROOT/scripts/golang-image.sh" --quiet 8>&-; then
    say "warning: scripts/golang-image.sh failed; images that build FROM golang cannot be built"
  fi
}

write_env() {
  local endpoint="http://127.0.0.1:$MOTO_PORT" registry="127.0.0.1:$REGISTRY_PORT" registry_b="127.0.0.1:$REGISTRY_B_PORT"
  local docker_host=${DOCKER_HOST:-unix:///var/run/docker.sock} aws
  aws=$(aws_cli_path)
  cat >"$STATE/env.json.tmp" <<EOF
{
  "endpoint": "$endpoint",
  "motoPort": $MOTO_PORT,
  "registry": "$registry",
  "registryB": "$registry_b",
  "region": "$REGION",
  "accessKeyId": "testing",
  "secretAccessKey": "testing",
  "dockerHost": "$docker_host",
  "awsCli": "$aws",
  "stateDir": "$STATE",
  "caFile": "$STATE/ca/ca.pem"
}
EOF
  mv "$STATE/env.json.tmp" "$STATE/env.json"
  cat >"$STATE/env.sh.tmp" <<EOF
export AWS_ENDPOINT_URL=$endpoint
export AWS_ACCESS_KEY_ID=testing
export AWS_SECRET_ACCESS_KEY=testing
export AWS_REGION=$REGION
export AWS_DEFAULT_REGION=$REGION
export PATCHWORK_REGISTRY=$registry
export PATCHWORK_REGISTRY_B=$registry_b
export AWS_PAGER=""
# The world's CA: its HTTPS listeners serve certificates it issued (tls.py). Node adds it to its roots;
# AWS calls stay plain http to moto, so no AWS_CA_BUNDLE (it would replace the CLI's roots).
export NODE_EXTRA_CA_CERTS=$STATE/ca/ca.pem
EOF
  mv "$STATE/env.sh.tmp" "$STATE/env.sh"
}

cmd_up() {
  mkdir -p "$STATE"
  exec 8>"$STATE/lock"
  flock -w 900 8 || die "another localworld.sh is running (lock $STATE/lock)"
  ensure_packages
  ensure_venv
  ensure_docker # before moto: the emulator looks for an engine when it starts tasks
  ensure_moto
  ensure_registry registry-b
  REGISTRY_B_PORT=$REGISTRY_PORT
  ensure_registry registry
  ensure_golang_image
  write_env
  echo "local world up: AWS (moto+extension) http://127.0.0.1:$MOTO_PORT, registry 127.0.0.1:$REGISTRY_PORT, docker $(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'); env: $STATE/env.json"
}

cmd_env() {
  [ -s "$STATE/env.sh" ] || die "no local world yet: run scripts/localworld.sh up"
  cat "$STATE/env.sh"
}

cmd_status() {
  local rc=0 port
  if [ -s "$STATE/moto.port" ] && moto_answers "$(cat "$STATE/moto.port")"; then
    port=$(cat "$STATE/moto.port")
    echo "moto:     running on http://127.0.0.1:$port (pid $(cat "$STATE/moto.pid" 2>/dev/null || echo ?)), $(curl -fsS "http://127.0.0.1:$port/_patchwork/tasks" | grep -o '"taskId"' | wc -l) live tasks"
  else
    echo "moto:     not running"; rc=1
  fi
  if docker_answers; then
    echo "docker:   running$(pid_alive "$STATE/dockerd.pid" && echo " (started by localworld, pid $(cat "$STATE/dockerd.pid"))"), $(docker ps -q --filter "label=patchwork.emulator.port=$(cat "$STATE/moto.port" 2>/dev/null)" | wc -l) task containers of this world"
  else
    echo "docker:   not answering"; rc=1
  fi
  if [ -s "$STATE/registry.port" ] && registry_answers "$(cat "$STATE/registry.port")"; then
    echo "registry: running on 127.0.0.1:$(cat "$STATE/registry.port") (pid $(cat "$STATE/registry.pid" 2>/dev/null || echo ?))"
  else
    echo "registry: not running"; rc=1
  fi
  if [ -s "$STATE/registry-b.port" ] && registry_answers "$(cat "$STATE/registry-b.port")"; then
    echo "registry-b: running on 127.0.0.1:$(cat "$STATE/registry-b.port") (pid $(cat "$STATE/registry-b.pid" 2>/dev/null || echo ?))"
  else
    echo "registry-b: not running"; rc=1
  fi
  return $rc
}

cmd_reset() {
  [ -s "$STATE/moto.port" ] && moto_answers "$(cat "$STATE/moto.port")" || die "moto is not running: scripts/localworld.sh up"
  curl -fsS -X POST "http://127.0.0.1:$(cat "$STATE/moto.port")/moto-api/reset" >/dev/null
  echo "local world reset"
}

cmd_down() {
  mkdir -p "$STATE"
  local port=""
  [ -s "$STATE/moto.port" ] && port=$(cat "$STATE/moto.port")
  stop_pidfile "$STATE/moto.pid" moto # on SIGTERM the emulator removes its own task containers
  if [ -n "$port" ] && docker_answers; then
    local ids # only this world's: another world (another LOCALWORLD_DIR) may share the engine
    ids=$(docker ps -aq --filter "label=patchwork.emulator.port=$port")
    if [ -n "$ids" ]; then
      # shellcheck disable=SC2086
      docker rm -f $ids >/dev/null 2>&1 || true
      say "removed $(echo "$ids" | wc -w) task containers"
    fi
  fi
  stop_pidfile "$STATE/registry.pid" registry
  stop_pidfile "$STATE/registry-b.pid" registry-b
  stop_pidfile "$STATE/dockerd.pid" dockerd
  rm -f "$STATE/moto.port" "$STATE/registry.port" "$STATE/registry-b.port" "$STATE/env.json" "$STATE/env.sh" "$STATE/moto.codehash"
  echo "local world down"
}

case "${1:-}" in
  up) cmd_up ;;
  down) cmd_down ;;
  env) cmd_env ;;
  status) cmd_status ;;
  reset) cmd_reset ;;
  -h|--help|help) usage ;;
  *) usage >&2; exit 2 ;;
esac
