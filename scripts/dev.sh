#!/usr/bin/env bash
# The whole system on one machine (the README's first command, `npm run dev`):
# Temporal dev server with its Web UI (state kept in .data/temporal.db), Podman's Docker API, moto as
# the dev stand-in for AWS EC2, Postgres (the machine's own), the worker and the API. Ctrl-C stops
# everything this script started. Ports and paths can be overridden with the variables below.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd)"
DATA="${DATA_DIR:-$ROOT/.data}"
TEMPORAL_PORT="${TEMPORAL_PORT:-7233}"
TEMPORAL_UI_PORT="${TEMPORAL_UI_PORT:-8233}"
MOTO_PORT="${MOTO_PORT:-5000}"
export API_PORT="${API_PORT:-8080}"
export API_HOST="${API_HOST:-127.0.0.1}"

bash scripts/setup.sh
mkdir -p "$DATA/logs"

# Secrets for this dev stack, generated once and kept (chmod 600) so restarts keep the same keys.
if [ ! -f "$DATA/dev.env" ]; then
  umask 077
  {
    echo "ADMIN_TOKEN=$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n')"
    echo "SECRETS_KEY=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
  } > "$DATA/dev.env"
fi
set -a
# shellcheck disable=SC1091
source "$DATA/dev.env"
export DATABASE_URL="${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/molecule}"
export TEMPORAL_ADDRESS="127.0.0.1:$TEMPORAL_PORT"
export DOCKER_SOCKET="$DATA/podman.sock"
export DOCKER_NETWORK="${DOCKER_NETWORK:-host}"
export COMPUTE_PROVIDERS="${COMPUTE_PROVIDERS:-docker,ec2}"
export EC2_ENDPOINT="${EC2_ENDPOINT:-http://127.0.0.1:$MOTO_PORT}"
export AWS_ACCESS_KEY_ID="${AWS_ACCESS_KEY_ID:-dev}" AWS_SECRET_ACCESS_KEY="${AWS_SECRET_ACCESS_KEY:-dev}"
export PLATFORM_URL="${PLATFORM_URL:-http://127.0.0.1:$API_PORT}"
export TEMPLATES_ROOT="${TEMPLATES_ROOT:-$ROOT/org-templates}"
set +a

pids=()
cleanup() {
  echo
  echo "dev: stopping"
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT INT TERM

port_free() { ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in "$TEMPORAL_PORT" "$TEMPORAL_UI_PORT" "$API_PORT" "$MOTO_PORT"; do
  port_free "$port" || { echo "dev: port $port is already in use (set TEMPORAL_PORT, TEMPORAL_UI_PORT, API_PORT or MOTO_PORT)"; exit 1; }
done

wait_for() { # name, command...
  local name=$1; shift
  for _ in $(seq 1 120); do "$@" >/dev/null 2>&1 && return 0; sleep 0.5; done
  echo "dev: $name did not come up; see $DATA/logs"; exit 1
}

search_attrs=()
for sa in WorkspaceId WorkspaceRuntime ProvisionPhase OrgImportId; do search_attrs+=(--search-attribute "$sa=Keyword"); done
.venv/bin/temporal server start-dev --ip 127.0.0.1 --port "$TEMPORAL_PORT" --ui-port "$TEMPORAL_UI_PORT" \
  --db-filename "$DATA/temporal.db" --namespace default --log-level warn "${search_attrs[@]}" > "$DATA/logs/temporal.log" 2>&1 &
pids+=($!)
rm -f "$DOCKER_SOCKET"
podman system service --time=0 "unix://$DOCKER_SOCKET" > "$DATA/logs/podman.log" 2>&1 &
pids+=($!)
if [[ "$COMPUTE_PROVIDERS" == *ec2* && "$EC2_ENDPOINT" == "http://127.0.0.1:$MOTO_PORT" ]]; then
  # moto stands in for AWS on this machine; unset EC2_ENDPOINT (and set real credentials) for AWS.
  .venv/bin/moto_server -H 127.0.0.1 -p "$MOTO_PORT" > "$DATA/logs/moto.log" 2>&1 &
  pids+=($!)
  wait_for moto curl -sf "http://127.0.0.1:$MOTO_PORT/moto-api/"
  export EC2_AMI_ID="${EC2_AMI_ID:-$(curl -s "http://127.0.0.1:$MOTO_PORT/?Action=DescribeImages&Version=2016-11-15" | grep -o 'ami-[0-9a-f]*' | head -1)}"
fi
wait_for "Temporal" bash -c "exec 3<>/dev/tcp/127.0.0.1/$TEMPORAL_PORT"
wait_for "Podman" curl -sf --unix-socket "$DOCKER_SOCKET" http://d/v1.41/version

npx tsx db/migrate-cli.ts
npx tsx worker/main.ts > "$DATA/logs/worker.log" 2>&1 &
pids+=($!)
npx tsx api/main.ts > "$DATA/logs/api.log" 2>&1 &
pids+=($!)
wait_for "API" curl -sf "http://127.0.0.1:$API_PORT/healthz"

cat <<INFO

  API            http://127.0.0.1:$API_PORT        (OpenAPI UI: /docs, readiness: /readyz)
  Temporal UI    http://127.0.0.1:$TEMPORAL_UI_PORT
  Admin token    ADMIN_TOKEN in $DATA/dev.env
  Logs           $DATA/logs/

  Try: curl -H "Authorization: Bearer \$(grep ADMIN_TOKEN $DATA/dev.env | cut -d= -f2)" http://127.0.0.1:$API_PORT/readyz
  Ctrl-C stops everything.
INFO
wait -n "${pids[@]}" || true
echo "dev: a process exited; see $DATA/logs"
