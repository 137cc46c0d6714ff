#!/usr/bin/env bash
# `npm run dev` (the README's first command): the whole system on one machine.
#   Temporal dev server WITH its Web UI (state kept in .data/temporal.db), Podman's Docker Engine API
#   (.data/podman.sock), moto as the dev stand-in for AWS EC2, Postgres (the machine's own; database
#   created and migrated), the worker and the API.
# State lives in .data/ and survives restarts: dev.env (ADMIN_TOKEN, SECRETS_KEY, generated once),
# temporal.db, logs/*.log. Ctrl-C (or SIGTERM) stops every process this script started.
#
# Overrides: TEMPORAL_PORT (7233), TEMPORAL_UI_PORT (8233), API_PORT (8080), API_HOST (127.0.0.1),
# MOTO_PORT (5000), DATA_DIR (.data), DATABASE_URL, COMPUTE_PROVIDERS (docker,ec2), EC2_ENDPOINT,
# DOCKER_NETWORK (host), PLATFORM_URL. Setting EC2_ENDPOINT to something else, or unsetting it with
# EC2_ENDPOINT= (empty), talks to that endpoint / real AWS instead of moto (then set AWS credentials,
# AWS_REGION and EC2_AMI_ID).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
# shellcheck source=scripts/lib.sh
source scripts/lib.sh
say() { echo "dev: $*"; }
die() { echo "dev: $*" >&2; exit 1; }

DATA="${DATA_DIR:-$ROOT/.data}"
LOGS="$DATA/logs"
PIDS_FILE="$DATA/dev.pids"
TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
MOTO_PORT="${MOTO_PORT:-5000}"
export API_PORT="${API_PORT:-8080}"
export API_HOST="${API_HOST:-127.0.0.1}"

bash scripts/setup.sh
mkdir -p "$LOGS"

# Secrets for this dev stack, generated once and kept (mode 600) so restarts keep the same keys:
# a new SECRETS_KEY could not decrypt the secrets already stored.
if [ ! -f "$DATA/dev.env" ]; then
  (
    umask 077
    printf 'ADMIN_TOKEN=%s\nSECRETS_KEY=%s\n' "$(random_hex 24)" "$(random_hex 32)" > "$DATA/dev.env"
  )
  say "generated $DATA/dev.env (ADMIN_TOKEN, SECRETS_KEY)"
fi
set -a
# shellcheck disable=SC1091
source "$DATA/dev.env"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/molecule}"
export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
export TEMPORAL_NAMESPACE="${TEMPORAL_NAMESPACE:-default}"
export DOCKER_SOCKET="$DATA/podman.sock"
# Host networking: workspace containers reach the API on 127.0.0.1 (PLATFORM_URL) directly.
export DOCKER_NETWORK="${DOCKER_NETWORK:-host}"
export COMPUTE_PROVIDERS="${COMPUTE_PROVIDERS:-docker,ec2}"
# moto is the dev stand-in for AWS EC2. With EC2_ENDPOINT set empty the AWS SDK talks to real AWS.
export EC2_ENDPOINT="${EC2_ENDPOINT-http://127.0.0.1:$MOTO_PORT}"
export PLATFORM_URL="${PLATFORM_URL:-http://127.0.0.1:$API_PORT}"
export TEMPLATES_ROOT="${TEMPLATES_ROOT:-$ROOT/org-templates}"
set +a
[ -n "$EC2_ENDPOINT" ] || unset EC2_ENDPOINT
use_moto=false
if [[ "$COMPUTE_PROVIDERS" == *ec2* && "${EC2_ENDPOINT:-}" == "http://127.0.0.1:$MOTO_PORT" ]]; then
  use_moto=true
  # moto accepts any credentials; real AWS needs the caller's own.
  export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-dev}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-dev}"
fi

# .data/dev.pids names the dev.sh that owns the stack ("dev.sh PID") and each child it started.
# Another live `npm run dev` on this .data: refuse (its children are not leftovers). A dead owner (it
# was SIGKILLed, or its terminal closed) leaves its servers running: stop those, only pids it recorded
# and that still run the same program, before checking the ports.
if [ -f "$PIDS_FILE" ]; then
  read -r _ owner < "$PIDS_FILE" || owner=""
  if [ -n "$owner" ] && [ "$owner" != "$$" ] && pid_alive "$owner" && tr '\0' ' ' < "/proc/$owner/cmdline" 2>/dev/null | grep -q dev.sh; then
    die "another npm run dev (pid $owner) is running on $DATA; stop it first (Ctrl-C there, or kill $owner)"
  fi
  while read -r name pid; do
    [ "$name" != dev.sh ] && [ -n "${pid:-}" ] && pid_alive "$pid" || continue
    if tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null | grep -q -- "${name}"; then
      say "stopping $name (pid $pid) left over from an earlier npm run dev"
      stop_group "$pid" 10
    fi
  done < <(tac "$PIDS_FILE") # newest first: the API and worker before the servers they use
  rm -f "$PIDS_FILE"
fi

busy=()
for spec in "Temporal:$TEMPORAL_PORT:TEMPORAL_PORT" "Temporal UI:$TEMPORAL_UI_PORT:TEMPORAL_UI_PORT" "API:$API_PORT:API_PORT"; do
  IFS=: read -r what port var <<< "$spec"
  port_in_use "$port" && busy+=("$port ($what; set $var to use another port)")
done
if $use_moto && port_in_use "$MOTO_PORT"; then busy+=("$MOTO_PORT (moto; set MOTO_PORT to use another port)"); fi
if [ ${#busy[@]} -gt 0 ]; then
  die "these ports are already in use on 127.0.0.1, is another npm run dev running? ${busy[*]}"
fi
pg_isready -q -d "$DATABASE_URL" 2>/dev/null || die "Postgres does not answer at $DATABASE_URL (start it, or set DATABASE_URL)"

# Every child is started with setsid, so it leads its own process group: stopping the group also stops
# what it spawned (npx/tsx run node in a child process), and a Ctrl-C in the terminal reaches only this
# script, which then stops the children in order (API and worker first, servers last).
echo "dev.sh $$" > "$PIDS_FILE"
names=()
pids=()
start() { # name logfile command...
  local name=$1 log=$2
  shift 2
  setsid "$@" > "$log" 2>&1 < /dev/null &
  names+=("$name")
  pids+=("$!")
  echo "$name $!" >> "$PIDS_FILE"
}
stopping=false
stop_all() {
  $stopping && return
  stopping=true
  trap - INT TERM
  local i
  echo
  say "stopping"
  for ((i = ${#pids[@]} - 1; i >= 0; i--)); do stop_group "${pids[$i]}" 10; done
  wait 2>/dev/null || true
  rm -f "$PIDS_FILE" "$DOCKER_SOCKET"
}
# Trap: a non-interactive bash started in the background (`bash scripts/dev.sh &` from another script)
# inherits SIGINT as ignored and cannot trap it; stop such a run with SIGTERM.
trap stop_all EXIT
trap 'stop_all; exit 130' INT
trap 'stop_all; exit 143' TERM

# wait_for NAME SECONDS LOG COMMAND...: polls COMMAND; fails with the log's tail if the last started
# process died or the time runs out.
wait_for() {
  local name=$1 seconds=$2 log=$3 i
  shift 3
  for ((i = 0; i < seconds * 4; i++)); do
    "$@" >/dev/null 2>&1 && return 0
    pid_alive "${pids[-1]}" || { tail -n 20 "$log" >&2; die "$name exited during start-up (log: $log)"; }
    sleep 0.25
  done
  tail -n 20 "$log" >&2
  die "$name did not come up within ${seconds}s (log: $log)"
}

# Temporal: declaring the search attributes again on an existing --db-filename is fine (tried with
# temporal CLI 1.9.1: it starts and keeps them). The names come from domain/vocabulary.ts.
read -r -a sa_names <<< "$(node_modules/.bin/tsx -e "import { SEARCH_ATTRIBUTE_NAMES } from './domain/vocabulary'; console.log(SEARCH_ATTRIBUTE_NAMES.join(' '))")"
sa_flags=()
for sa in "${sa_names[@]}"; do sa_flags+=(--search-attribute "$sa=Keyword"); done
say "starting Temporal dev server on :$TEMPORAL_PORT (Web UI :$TEMPORAL_UI_PORT, state $DATA/temporal.db)"
start temporal "$LOGS/temporal.log" "$ROOT/.venv/bin/temporal" server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" \
  --ui-port "$TEMPORAL_UI_PORT" --db-filename "$DATA/temporal.db" --namespace "$TEMPORAL_NAMESPACE" --log-level warn "${sa_flags[@]}"
temporal_ready() {
  "$ROOT/.venv/bin/temporal" operator search-attribute list --address "$TEMPORAL_ADDRESS" --namespace "$TEMPORAL_NAMESPACE" |
    grep -q "${sa_names[-1]}"
}
wait_for "Temporal dev server" 60 "$LOGS/temporal.log" temporal_ready

say "starting Podman's Docker API at $DOCKER_SOCKET"
rm -f "$DOCKER_SOCKET"
start podman "$LOGS/podman.log" podman system service --time=0 "unix://$DOCKER_SOCKET"
wait_for "Podman API service" 30 "$LOGS/podman.log" docker_api_ok "$DOCKER_SOCKET"

if $use_moto; then
  say "starting moto (EC2 stand-in) on :$MOTO_PORT"
  start moto_server "$LOGS/moto.log" "$ROOT/.venv/bin/moto_server" -H 127.0.0.1 -p "$MOTO_PORT"
  wait_for "moto" 60 "$LOGS/moto.log" http_ok "http://127.0.0.1:$MOTO_PORT/moto-api/"
  if [ -z "${EC2_AMI_ID:-}" ]; then
    EC2_AMI_ID="$(node -e 'fetch(process.argv[1]).then((r) => r.text()).then((t) => console.log((t.match(/ami-[0-9a-f]+/) || [""])[0]))' \
      "http://127.0.0.1:$MOTO_PORT/?Action=DescribeImages&Version=2016-11-15")"
    export EC2_AMI_ID
  fi
fi

say "migrating $DATABASE_URL"
node_modules/.bin/tsx db/migrate-cli.ts 2>&1 | sed 's/^/dev: migrate: /'

say "starting the worker and the API"
start worker "$LOGS/worker.log" node_modules/.bin/tsx worker/main.ts
start api "$LOGS/api.log" node_modules/.bin/tsx api/main.ts
wait_for "API" 60 "$LOGS/api.log" http_ok "http://127.0.0.1:$API_PORT/healthz"

cat <<INFO

  API            http://127.0.0.1:$API_PORT
  API docs       http://127.0.0.1:$API_PORT/docs   (OpenAPI UI)
  Temporal UI    http://127.0.0.1:$TEMPORAL_UI_PORT
  Admin token    ADMIN_TOKEN in $DATA/dev.env
  Logs           $LOGS/{temporal,podman,moto,worker,api}.log

  Try: curl -H "Authorization: Bearer \$(grep ADMIN_TOKEN $DATA/dev.env | cut -d= -f2)" http://127.0.0.1:$API_PORT/workspaces
  Ctrl-C stops everything.

INFO

set +e
wait -n "${pids[@]}"
rc=$?
set -e
for i in "${!pids[@]}"; do
  pid_alive "${pids[$i]}" || say "${names[$i]} (pid ${pids[$i]}) exited (status $rc); see $LOGS"
done
exit 1
