#!/bin/sh
# Agent stand-in for workspace containers (busybox sh). It behaves like the real agent towards the
# platform: reads the token the platform wrote into /configs BEFORE start, registers, then heartbeats;
# on a failed heartbeat it re-registers once and retries. AGENT_BEHAVIOUR selects test behaviours:
#   normal (default) | silent (never registers) | crash (exits 1) | stubborn (ignores SIGTERM)
TOKEN_FILE=/configs/.auth_token
BEHAVIOUR="${AGENT_BEHAVIOUR:-normal}"
INTERVAL="${HEARTBEAT_INTERVAL:-10}"

if [ ! -f "$TOKEN_FILE" ]; then
  echo "agent: token file missing at start"
  exit 3
fi
echo "agent: token file present"
TOKEN="$(cat "$TOKEN_FILE")"
BODY="{\"workspace_id\":\"${WORKSPACE_ID}\"}"

post() {
  wget -q -O /tmp/answer --header "Authorization: Bearer ${TOKEN}" --header "Content-Type: application/json" \
    --post-data "$BODY" "${PLATFORM_URL}$1" 2>/tmp/error
}

case "$BEHAVIOUR" in
  silent)
    echo "agent: silent, never registering"
    while true; do sleep 3600; done ;;
  crash)
    echo "agent: crashing on purpose"
    exit 1 ;;
  stubborn)
    trap '' TERM
    echo "agent: ignoring SIGTERM"
    while true; do sleep 1; done ;;
esac

until post /registry/register; do
  echo "agent: register failed, retrying"
  sleep 2
done
echo "agent: registered"

trap 'echo "agent: stopping"; exit 0' TERM INT
while true; do
  sleep "$INTERVAL" &
  wait $!
  if ! post /registry/heartbeat; then
    echo "agent: heartbeat failed, re-registering once"
    post /registry/register && post /registry/heartbeat || echo "agent: heartbeat retry failed"
  fi
done
