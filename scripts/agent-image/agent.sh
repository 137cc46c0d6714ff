#!/bin/sh
# Agent stand-in for workspace containers (busybox sh). It behaves like the real agent towards the
# platform: reads the token the platform wrote into /configs BEFORE start, registers (retrying every
# 2 s), then heartbeats every HEARTBEAT_INTERVAL seconds; on a failed heartbeat it re-registers once and
# retries the heartbeat once. AGENT_BEHAVIOUR selects test behaviours:
#   normal (default) | silent (never registers) | crash (exits 1) | stubborn (ignores SIGTERM)
# Env: PLATFORM_URL, WORKSPACE_ID, HEARTBEAT_INTERVAL (s, default 10), AGENT_BEHAVIOUR.
# Heartbeats carry the full report of A2.1 (uptime, tasks, error rate, runtime state, metadata). What
# a real runtime would measure comes from REPORT_FILE when it exists: JSON members (e.g.
# `"error_rate":0.75,"sample_error":"boom"`) that replace the healthy default; tests write it with exec.
# Tests match these log lines exactly; change them together with test/integration/*.
TOKEN_FILE=/configs/.auth_token
REPORT_FILE=/tmp/agent-report
HEALTHY='"error_rate":0,"runtime_state":"","monthly_spend":0'
STARTED="$(date +%s)"
BEHAVIOUR="${AGENT_BEHAVIOUR:-normal}"
INTERVAL="${HEARTBEAT_INTERVAL:-10}"

# Trap: this shell is PID 1 in the container, and the kernel drops signals that PID 1 has no handler
# for, so without a TERM handler `docker stop` always waits for its timeout and then SIGKILLs.
# Trap: sh runs a trap only once the foreground command ends, so long sleeps are `sleep N & wait $!`
# (wait returns as soon as a trapped signal arrives).
if [ "$BEHAVIOUR" != stubborn ]; then
  trap 'echo "agent: stopping"; exit 0' TERM INT
fi
nap() { sleep "$1" & wait $!; }

if [ ! -f "$TOKEN_FILE" ]; then
  # Exit 3 proves the platform did not write the token before start.
  echo "agent: token file missing at start ($TOKEN_FILE)" >&2
  exit 3
fi
echo "agent: token file present"
TOKEN="$(cat "$TOKEN_FILE")"
REGISTER_BODY="{\"workspace_id\":\"${WORKSPACE_ID}\"}"
BODY="$REGISTER_BODY"

# The heartbeat body: the standing fields, then the runtime's report (REPORT_FILE or healthy).
heartbeat_body() {
  report="$HEALTHY"
  if [ -s "$REPORT_FILE" ]; then report="$(cat "$REPORT_FILE")"; fi
  BODY="{\"workspace_id\":\"${WORKSPACE_ID}\",\"uptime_seconds\":$(( $(date +%s) - STARTED )),\"active_tasks\":0,\"current_task\":\"\",\"runtime_metadata\":{\"capabilities\":{}},${report}}"
}

# POST $PLATFORM_URL$1 with the bearer token; prints why it failed (e.g. "... 401 Unauthorized").
# Trap: Debian's busybox-static 1.35 wget segfaults on -T (timeout), so a hung request is bounded by
# busybox `timeout` instead.
post() {
  if timeout 15 wget -q -O /tmp/answer --header "Authorization: Bearer ${TOKEN}" \
    --header "Content-Type: application/json" --post-data "$BODY" "${PLATFORM_URL}$1" 2>/tmp/error; then
    return 0
  fi
  echo "agent: POST $1 failed: $(tr '\n' ' ' </tmp/error)"
  return 1
}

case "$BEHAVIOUR" in
  silent)
    echo "agent: silent, never registering"
    while true; do nap 3600; done ;;
  crash)
    echo "agent: crashing on purpose"
    exit 1 ;;
  stubborn)
    trap '' TERM
    echo "agent: ignoring SIGTERM"
    while true; do sleep 1; done ;;
  normal) ;;
  *)
    echo "agent: unknown AGENT_BEHAVIOUR '$BEHAVIOUR', behaving normally" ;;
esac

BODY="$REGISTER_BODY"
until post /registry/register; do
  echo "agent: register failed, retrying in 2 s"
  nap 2
done
echo "agent: registered"

while true; do
  nap "$INTERVAL"
  heartbeat_body
  if post /registry/heartbeat; then
    continue
  fi
  echo "agent: heartbeat failed, re-registering once"
  BODY="$REGISTER_BODY"
  if post /registry/register && heartbeat_body && post /registry/heartbeat; then
    echo "agent: re-registered"
  else
    echo "agent: heartbeat retry failed"
  fi
done
