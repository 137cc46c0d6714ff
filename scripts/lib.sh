# Shared bash helpers for scripts/*.sh (sourced, not run). Probes use node (always present) instead of
# curl, which a bare Debian machine does not have.

# port_in_use PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# http_ok URL: true when GET URL answers 2xx within 2 s.
http_ok() {
  node -e 'fetch(process.argv[1], { signal: AbortSignal.timeout(2000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))' "$1"
}

# docker_api_ok SOCKET: true when the Docker Engine API on the unix socket answers GET /v1.41/version.
docker_api_ok() {
  node -e '
    const req = require("http").get({ socketPath: process.argv[1], path: "/v1.41/version", timeout: 2000 }, (r) => process.exit(r.statusCode === 200 ? 0 : 1));
    req.on("error", () => process.exit(1)); req.on("timeout", () => process.exit(1));' "$1"
}

# random_hex BYTES
random_hex() { od -An -N"$1" -tx1 /dev/urandom | tr -d ' \n'; }

# pid_alive PID: false for a zombie too (an exited child of ours that bash has not reaped yet).
pid_alive() {
  local stat
  stat="$(cat "/proc/$1/stat" 2>/dev/null)" || return 1
  stat="${stat##*) }"
  [ "${stat:0:1}" != Z ]
}

# stop_group PID [GRACE_SECONDS]: SIGTERM to the process group PID leads (children started with
# setsid lead their own group, so tsx's and npm's grandchildren go too), SIGKILL after the grace time.
stop_group() {
  local pid=$1 grace=${2:-10} i
  pid_alive "$pid" || return 0
  kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid" 2>/dev/null || true
  for ((i = 0; i < grace * 10; i++)); do
    pid_alive "$pid" || return 0
    sleep 0.1
  done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
}
