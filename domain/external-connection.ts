// What an operator needs to connect an agent that runs outside the platform (A5.2-3): the endpoints
// and ready-to-paste snippets, built on the URL such an agent reaches the API at. Pure: no I/O.
// The token is a field of its own and never part of a snippet (snippets end up in shell histories,
// chat messages and tickets): each snippet reads it from $WORKSPACE_TOKEN.

export const REGISTRY_PATHS = { register: '/registry/register', heartbeat: '/registry/heartbeat' } as const;

/** A1.1: a standalone external client heartbeats every 20 s (the liveness window is 180 s). */
export const EXTERNAL_HEARTBEAT_SECONDS = 20;

export interface ExternalConnection {
  workspace_id: string;
  platform_url: string;
  auth_token: string;
  registry_endpoint: string;
  heartbeat_endpoint: string;
  curl_register_template: string;
  python_snippet: string;
  claude_code_channel_snippet: string;
  universal_mcp_snippet: string;
}

/**
 * A base URL that is safe to paste into the snippets' shell quotes, JSON and Python strings: http(s),
 * a host (name, IPv4 or [IPv6]) with an optional port, an optional plain path; no quotes, spaces,
 * query or fragment.
 */
export const SAFE_BASE_URL = /^https?:\/\/[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~%/-]*)?$|^https?:\/\/\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?(?:\/[A-Za-z0-9._~%/-]*)?$/;

/**
 * A5.3: the configured external URL, else the scheme and host the request came in on (what the
 * operator reached the API at), else `fallback`; trailing slashes trimmed. A Host header that would
 * not make a safe URL is not used.
 */
export function externalPlatformUrl(configured: string, request: { protocol: string; host: string | undefined }, fallback: string): string {
  const fromRequest = request.host ? `${request.protocol}://${request.host}` : '';
  const base = configured !== '' ? configured : SAFE_BASE_URL.test(fromRequest) ? fromRequest : fallback;
  return base.replace(/\/+$/, '');
}

const CURL_REGISTER = `: "\${WORKSPACE_TOKEN:?set WORKSPACE_TOKEN to the auth_token shown once when the workspace was created}"
curl -sS -X POST '{{PLATFORM_URL}}${REGISTRY_PATHS.register}' \\
  -H "Authorization: Bearer $WORKSPACE_TOKEN" \\
  -H 'Origin: {{PLATFORM_URL}}' \\
  -H 'Content-Type: application/json' \\
  -d '{"workspace_id":"{{WORKSPACE_ID}}","delivery_mode":"poll"}'
# then every ${EXTERNAL_HEARTBEAT_SECONDS} s:
curl -sS -X POST '{{PLATFORM_URL}}${REGISTRY_PATHS.heartbeat}' \\
  -H "Authorization: Bearer $WORKSPACE_TOKEN" \\
  -H 'Origin: {{PLATFORM_URL}}' \\
  -H 'Content-Type: application/json' \\
  -d '{"workspace_id":"{{WORKSPACE_ID}}"}'`;

const PYTHON = `# Python 3 standard library only. Run with WORKSPACE_TOKEN set to the auth_token shown at create.
import json, os, time, urllib.request

WORKSPACE_ID = "{{WORKSPACE_ID}}"
REGISTER = "{{PLATFORM_URL}}${REGISTRY_PATHS.register}"
HEARTBEAT = "{{PLATFORM_URL}}${REGISTRY_PATHS.heartbeat}"
HEADERS = {
    "Authorization": "Bearer " + os.environ["WORKSPACE_TOKEN"],
    "Origin": "{{PLATFORM_URL}}",
    "Content-Type": "application/json",
}

def post(url, body):
    req = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST", headers=HEADERS)
    with urllib.request.urlopen(req, timeout=15) as res:
        return json.load(res)

print(post(REGISTER, {"workspace_id": WORKSPACE_ID, "delivery_mode": "poll"}), flush=True)
while True:
    time.sleep(${EXTERNAL_HEARTBEAT_SECONDS})
    try:
        post(HEARTBEAT, {"workspace_id": WORKSPACE_ID})
    except Exception as err:  # keep beating: a silent agent's workspace waits as awaiting_agent
        print("heartbeat failed:", err, flush=True)`;

// Claude Code runs hooks from .claude/settings.json: register when a session starts and keep a
// heartbeat loop alive beside it, so the workspace is online exactly while Claude Code runs.
const CLAUDE_CODE = `{
  "hooks": {
    "SessionStart": [
      {
        "hooks": [
          {
            "type": "command",
            "command": "curl -sS -X POST '{{PLATFORM_URL}}${REGISTRY_PATHS.register}' -H \\"Authorization: Bearer $WORKSPACE_TOKEN\\" -H 'Origin: {{PLATFORM_URL}}' -H 'Content-Type: application/json' -d '{\\"workspace_id\\":\\"{{WORKSPACE_ID}}\\",\\"delivery_mode\\":\\"poll\\"}' >/dev/null && (while sleep ${EXTERNAL_HEARTBEAT_SECONDS}; do curl -sS -X POST '{{PLATFORM_URL}}${REGISTRY_PATHS.heartbeat}' -H \\"Authorization: Bearer $WORKSPACE_TOKEN\\" -H 'Origin: {{PLATFORM_URL}}' -H 'Content-Type: application/json' -d '{\\"workspace_id\\":\\"{{WORKSPACE_ID}}\\"}' >/dev/null; done) >/dev/null 2>&1 &"
          }
        ]
      }
    ]
  }
}`;

// Runtime-neutral: the two calls as data, for any agent framework or MCP client that can be configured
// with HTTP requests (method, url, headers, body, interval).
const UNIVERSAL = JSON.stringify(
  {
    platform_url: '{{PLATFORM_URL}}',
    workspace_id: '{{WORKSPACE_ID}}',
    auth: { type: 'bearer', env: 'WORKSPACE_TOKEN' },
    register: {
      method: 'POST',
      url: `{{PLATFORM_URL}}${REGISTRY_PATHS.register}`,
      headers: { Authorization: 'Bearer ${WORKSPACE_TOKEN}', Origin: '{{PLATFORM_URL}}', 'Content-Type': 'application/json' },
      body: { workspace_id: '{{WORKSPACE_ID}}', delivery_mode: 'poll' },
    },
    heartbeat: {
      method: 'POST',
      url: `{{PLATFORM_URL}}${REGISTRY_PATHS.heartbeat}`,
      headers: { Authorization: 'Bearer ${WORKSPACE_TOKEN}', Origin: '{{PLATFORM_URL}}', 'Content-Type': 'application/json' },
      body: { workspace_id: '{{WORKSPACE_ID}}' },
      interval_seconds: EXTERNAL_HEARTBEAT_SECONDS,
    },
  },
  null,
  2,
);

/** Fills the two placeholders; nothing else is substituted (the token is never passed in). */
function fill(template: string, platformUrl: string, workspaceId: string): string {
  return template.replaceAll('{{PLATFORM_URL}}', platformUrl).replaceAll('{{WORKSPACE_ID}}', workspaceId);
}

/** The `connection` of A5.2. `authToken` is "" when minting failed (the caller still answers 201). */
export function externalConnection(platformUrl: string, workspaceId: string, authToken: string): ExternalConnection {
  return {
    workspace_id: workspaceId,
    platform_url: platformUrl,
    auth_token: authToken,
    registry_endpoint: platformUrl + REGISTRY_PATHS.register,
    heartbeat_endpoint: platformUrl + REGISTRY_PATHS.heartbeat,
    curl_register_template: fill(CURL_REGISTER, platformUrl, workspaceId),
    python_snippet: fill(PYTHON, platformUrl, workspaceId),
    claude_code_channel_snippet: fill(CLAUDE_CODE, platformUrl, workspaceId),
    universal_mcp_snippet: fill(UNIVERSAL, platformUrl, workspaceId),
  };
}
