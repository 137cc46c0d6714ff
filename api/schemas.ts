// zod schemas for the HTTP API: they validate requests and generate the OpenAPI document.
// Numbers that SPEC says are clamped are clamped (not rejected); everything else is validated strictly
// with bounded sizes.
import { z } from 'zod';
import { TEMPLATE_FILE_LIMITS } from '../activities/template-files';
import { MAX_PROVISION_TIMEOUT_SECONDS } from '../domain/provision-timeout';
import { heartbeatBody, heartbeatView, runtimeMetadata } from './heartbeat-schema';
import { DELIVERY_MODES, UPDATE_TIERS, WORKSPACE_ORIGINS, WORKSPACE_STATUSES, COMPUTE_KINDS, RUNTIMES, SAFE_NAME, SAFE_TEXT } from '../domain/vocabulary';

const clampInt = (min: number, max: number) =>
  z
    .number()
    .refine((n) => !Number.isNaN(n), 'must be a number')
    .transform((n) => Math.min(max, Math.max(min, Math.trunc(Number.isFinite(n) ? n : n > 0 ? max : min))));

export const ENV_NAME = /^[A-Z][A-Z0-9_]{0,127}$/;
const envName = z.string().regex(ENV_NAME, 'must match ^[A-Z][A-Z0-9_]{0,127}$');
// Names end up in git identities, container env, logs and UIs: the template parser's rule applies.
// Checked as patterns (not refinements) so that the OpenAPI document states them too; then trimmed.
const displayName = z
  .string()
  .max(200, 'must be at most 200 characters')
  .regex(SAFE_NAME, 'must have a visible character and no control, separator or bidi-override characters')
  .trim();

export const MAX_BUDGET_CENTS = 100_000_000_000;

/** Where an agent in push mode takes work (A5.6 checks the address it points at, after parsing). */
const pushUrl = z.url({ protocol: /^https?$/ }).max(2048);

/** A10.4: minutes without a heartbeat after which the idle monitor hibernates the workspace; 0 = never. */
export const MAX_HIBERNATION_IDLE_MINUTES = 525_600;
const hibernationIdleMinutes = z
  .number()
  .int('must be an integer')
  .min(0)
  .max(MAX_HIBERNATION_IDLE_MINUTES)
  .describe('minutes without a heartbeat (and no active task) after which the idle monitor hibernates it; 0 = never');

export const createWorkspaceBody = z.object({
  name: displayName,
  role: z.string().max(200).default(''),
  tier: z.number().int().min(0).max(10).default(1),
  runtime: z.string().max(64).optional().describe('claude-code | hermes | openclaw | codex | external; unknown values fall back to claude-code'),
  compute: z.enum(['docker', 'ec2']).optional().describe('where the agent runs; defaults to DEFAULT_COMPUTE; ignored for external'),
  parent_id: z.uuid().nullable().optional(),
  model: z.string().max(200).optional(),
  delivery_mode: z.enum(DELIVERY_MODES).optional(),
  external: z.boolean().optional().describe('true: an external agent (the same as runtime "external")'),
  url: pushUrl.optional().describe('external only: the agent is already running there; the workspace starts online (A5.1)'),
  update_tier: z.enum(UPDATE_TIERS).default('production'),
  budget_limit: clampInt(0, MAX_BUDGET_CENTS).nullable().optional().describe('integer cents; clamped to [0, 1e11]'),
  max_concurrent_tasks: clampInt(1, 100).default(1).describe('clamped to [1, 100]'),
  provision_timeout_seconds: z.number().int().min(1).max(MAX_PROVISION_TIMEOUT_SECONDS).optional(),
  required_env: z.array(envName).max(100).default([]),
  hibernation_idle_minutes: hibernationIdleMinutes.default(0),
  secrets: z
    .record(envName, z.string().max(64 * 1024))
    .refine((r) => Object.keys(r).length <= 100, 'at most 100 secrets')
    .meta({ maxProperties: 100, propertyNames: { pattern: ENV_NAME.source } })
    .optional()
    .describe('workspace secrets, stored encrypted before provisioning starts; never returned'),
})
  .refine((b) => !b.external || b.runtime === undefined || b.runtime === 'external', {
    path: ['external'],
    message: 'external:true contradicts the runtime given; omit runtime or set it to "external"',
  })
  .refine((b) => b.url === undefined || b.external === true || b.runtime === 'external', {
    path: ['url'],
    message: 'only an external workspace takes a url; platform-run agents are reached at their container or instance',
  })
  // The two rules above, for the document.
  .meta({
    allOf: [
      { not: { required: ['external', 'runtime'], properties: { external: { enum: [true] }, runtime: { not: { enum: ['external'] } } } } },
      { anyOf: [{ not: { required: ['url'] } }, { required: ['external'], properties: { external: { enum: [true] } } }, { required: ['runtime'], properties: { runtime: { enum: ['external'] } } }] },
    ],
  });

/**
 * A body that may be left out. Fastify validates a missing body as null, so null is no body too (and the
 * document says so: nullable, not required); the route sees the default.
 */
const optionalBody = <T extends z.ZodObject>(shape: T, fallback: z.output<T>) => shape.nullish().transform((b) => b ?? fallback);

const provisionFields = z.object({ model: z.string().max(200).optional() });
export const provisionBody = optionalBody(provisionFields, {});

const restartFields = z
  .object({
    rebuild_config: z.boolean().default(false).describe('write /configs anew from the stored files'),
    template: z.string().max(100).optional().describe('take /configs from this directory under TEMPLATES_ROOT'),
    apply_template: z.boolean().optional().describe('take /configs from the directory matched by the workspace name, else <runtime>-default'),
    reset: z.boolean().optional().describe('start a fresh agent session: the config volume is recreated'),
  });
export const restartBody = optionalBody(restartFields, { rebuild_config: false });

export const deleteQuery = z.object({
  confirm: z.enum(['true', 'false']).optional(),
  purge: z.enum(['true', 'false']).optional(),
});

export const idParams = z.object({ id: z.uuid() });
export const hibernateQuery = z.object({
  force: z.enum(['true', 'false']).optional().describe('true: hibernate even while the agent reports active tasks'),
});
export const secretParams = z.object({ id: z.uuid(), name: envName });
export const globalSecretParams = z.object({ name: envName });
export const secretBody = z.object({ value: z.string().max(64 * 1024) });
export const secretWriteBody = z.object({ key: envName, value: secretBody.shape.value });
// PUT /workspaces/:id/files: the whole /configs file set (A3.5).
/** Written by the platform itself: a file set may not replace them. */
const RESERVED = new Set(['.auth_token', 'bootstrap.env']);

/** A relative path: segments of no control characters or backslashes, none empty, `.` or `..`. */
const SEGMENT = '(?!\\.\\.?(?:/|$))[^/\\u0000-\\u001f\\u007f-\\u009f\\\\]+';
const RELATIVE_PATH = new RegExp(`^${SEGMENT}(?:/${SEGMENT})*$`);
const filePath = z
  .string()
  .min(1)
  .regex(RELATIVE_PATH, 'must be a relative path without empty, . or .. segments, control characters or backslashes')
  .refine((p) => Buffer.byteLength(p, 'utf8') <= TEMPLATE_FILE_LIMITS.maxPathBytes, `must be at most ${TEMPLATE_FILE_LIMITS.maxPathBytes} bytes`)
  .refine((p) => !RESERVED.has(p), 'names a file the platform writes itself')
  .meta({ maxLength: TEMPLATE_FILE_LIMITS.maxPathBytes, not: { enum: [...RESERVED] } });

/** Exactly one of content (UTF-8 text) or content_base64 (binary): a one-of in the document. */
const fileEntry = z.xor([
  z.object({ path: filePath, content: z.string().describe('UTF-8 text'), content_base64: z.never().optional() }),
  z.object({
    path: filePath,
    content: z.never().optional(),
    content_base64: z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, 'must be base64').describe('binary content'),
  }),
]);

export const filesBody = z.object({
  files: z
    .array(fileEntry)
    .max(TEMPLATE_FILE_LIMITS.maxFiles)
    .refine((files) => new Set(files.map((f) => f.path)).size === files.length, 'paths must be unique'),
});

export const modelBody = z.object({ model: z.string().max(200).describe('model slug, e.g. anthropic/claude-sonnet-4; empty clears it') });
export const providerBody = z.object({ provider: z.string().max(100).regex(/^[a-z0-9._-]*$/, 'must be a lowercase provider name').describe('LLM provider hint; empty clears it') });

export const getWorkspaceQuery = z.object({ include_removed: z.enum(['true', 'false']).optional() });
export const listWorkspacesQuery = z.object({
  include_removed: z.enum(['true', 'false']).optional(),
  parent_id: z.uuid().optional(),
  limit: z.coerce.number().int().min(1).max(1000).default(200),
  cursor: z.string().regex(/^[A-Za-z0-9_-]{1,200}$/, 'must be a next_cursor').optional().describe('next_cursor of the previous page (opaque)'),
});

// --- management (SPEC-ADDENDUM A11, A12) ---

/** Text that may not carry control characters (newlines included): it reaches logs, env and UIs. */
const singleLine = (max: number) =>
  z
    .string()
    .max(max, `must be at most ${max} characters`)
    .regex(SAFE_TEXT, 'must not contain control, separator or bidi-override characters');
const CANVAS_LIMIT = 1e6;
const canvasCoordinate = z.number().min(-CANVAS_LIMIT).max(CANVAS_LIMIT);
const PATCH_FIELDS = ['name', 'role', 'runtime', 'tier', 'parent_id', 'collapsed', 'workspace_dir', 'x', 'y', 'budget_limit', 'hibernation_idle_minutes'] as const;

export const patchWorkspaceBody = z
  .object({
    name: displayName.optional(),
    role: singleLine(200).optional(),
    runtime: z.enum(RUNTIMES).optional().describe('switching between external and a runtime with compute is refused (409)'),
    tier: z.number().int().min(0).max(10).optional(),
    parent_id: z.uuid().nullable().optional().describe('null makes it a root; never itself or one of its descendants'),
    collapsed: z.boolean().optional(),
    workspace_dir: singleLine(4096)
      .regex(/^\//, 'must be an absolute path')
      .nullable()
      .optional()
      .describe('absolute; null clears; applied at the next restart (the answer says needs_restart)'),
    x: canvasCoordinate.optional(),
    y: canvasCoordinate.optional(),
    budget_limit: z.unknown().optional().describe('ignored: PATCH /workspaces/:id/budget sets it'),
    hibernation_idle_minutes: hibernationIdleMinutes.optional(),
  })
  .refine((b) => (b.x === undefined) === (b.y === undefined), { message: 'x and y are set together', path: ['x'] })
  .refine((b) => PATCH_FIELDS.some((f) => b[f] !== undefined), { message: `give at least one of ${PATCH_FIELDS.join(', ')}` })
  // The same two rules for the document: at least one field, and x only with y.
  .meta({
    anyOf: PATCH_FIELDS.map((f) => ({ required: [f] })),
    not: { anyOf: [{ required: ['x'], not: { required: ['y'] } }, { required: ['y'], not: { required: ['x'] } }] },
  });

export const budgetBody = z.object({
  budget_limit: z.number().int('must be an integer').min(0).max(MAX_BUDGET_CENTS).nullable().describe('integer cents, or null for no limit'),
});

const TOKEN_ID = /^[1-9][0-9]{0,17}$/;
export const tokenListQuery = z.object({
  limit: z.coerce.number().int().min(1).max(200).default(50),
  offset: z.coerce.number().int().min(0).max(1_000_000).default(0),
});
export const tokenParams = z.object({ id: z.uuid(), tokenId: z.string().regex(TOKEN_ID, 'must be a token id from GET /workspaces/:id/tokens') });

/** A12.3: since_secs beyond 30 days is clamped to 30 days. */
export const MAX_ACTIVITY_SINCE_SECS = 2_592_000;
export const activityQuery = z.object({
  type: z.string().regex(/^[A-Za-z0-9_.:-]{1,100}$/, 'must be an activity type such as workspace.updated').optional(),
  source: z.enum(['canvas', 'agent']).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  since_secs: z.coerce
    .number()
    .int()
    .positive()
    .transform((n) => Math.min(n, MAX_ACTIVITY_SINCE_SECS))
    .optional(),
  peer_id: z.uuid().optional(),
  before_ts: z.iso.datetime({ offset: true, error: 'must be an RFC 3339 timestamp' }).optional(),
  since_id: z.string().regex(TOKEN_ID, 'must be an activity id').optional(),
});

export const registerBody = z.object({
  workspace_id: z.uuid(),
  url: pushUrl.optional(),
  delivery_mode: z.enum(DELIVERY_MODES).optional().describe('push | poll; omitted: the stored mode (A5.4)'),
});
export { heartbeatBody } from './heartbeat-schema';
/** The EC2 agent's one-time exchange (POST /registry/bootstrap) names only its workspace. */
export const bootstrapBody = z.object({ workspace_id: z.uuid() });

/** The answer of a Server-Sent Events route: a stream that ends when the client or the server closes it. */
export const eventStreamResponse = {
  description: 'Server-Sent Events (text/event-stream): `id:`, `event:` and `data:` (JSON) lines per event',
  content: { 'text/event-stream': { schema: z.string() } },
};

export const errorResponse = z.object({
  error: z.string(),
  code: z.string(),
  details: z.unknown().optional(),
  request_id: z.string().optional(),
});

/** 410 for a removed workspace (api/errors.ts workspaceRemoved): when it went and how to read it anyway. */
export const removedBody = errorResponse.extend({ id: z.string(), removed_at: z.string().nullable(), hint: z.string() });

/** The coalesced restart a configuration write requested so the agent sees it; null when none was (A3). */
export const restartRequested = z
  .object({ workflow_id: z.string(), run_id: z.string() })
  .nullable()
  .describe('the restart requested so the agent sees the change; null when none is (external runtime, paused, ...)');

export const workspaceView = z.object({
  id: z.string(),
  name: z.string(),
  role: z.string(),
  tier: z.number(),
  runtime: z.enum(RUNTIMES),
  compute: z.enum(COMPUTE_KINDS),
  parent_id: z.string().nullable(),
  url: z.string().nullable(),
  status: z.enum(WORKSPACE_STATUSES),
  delivery_mode: z.enum(DELIVERY_MODES),
  update_tier: z.enum(UPDATE_TIERS),
  model: z.string().nullable(),
  instance_id: z.string().nullable(),
  container_name: z.string().nullable(),
  last_sample_error: z.string().nullable(),
  max_concurrent_tasks: z.number(),
  provision_timeout_seconds: z.number().describe('effective timeout from resolveProvisionTimeout()'),
  provision_deadline: z.string().nullable().describe('when a provision in progress will be failed'),
  required_env: z.array(z.string()),
  origin: z.enum(WORKSPACE_ORIGINS).describe('how the workspace came to exist: POST /workspaces (api) or an org import'),
  org_key: z.string().nullable().describe('import only: the org that owns it (template org_key, else its name)'),
  org_import_id: z.string().nullable().describe('import only: the import that created it'),
  collapsed: z.boolean().describe('canvas: its children are folded'),
  workspace_dir: z.string().nullable().describe('the agent\'s working directory on its host (PATCH sets it)'),
  x: z.number().nullable().describe('canvas position; null when never placed'),
  y: z.number().nullable(),
  last_heartbeat_at: z.string().nullable(),
  hibernation_idle_minutes: z.number().describe('A10.4: the idle monitor hibernates it after this many minutes without a heartbeat; 0 = never'),
  heartbeat: heartbeatView.describe("the agent's latest heartbeat report (A2); capabilities and idle timeout from its runtime_metadata"),
  removed_at: z.string().nullable(),
  created_at: z.string(),
  updated_at: z.string(),
});
export type WorkspaceView = z.infer<typeof workspaceView>;

export const operationView = z.object({
  workflow_id: z.string(),
  run_id: z.string(),
  type: z.string(),
  status: z.string(),
  phase: z.string().nullable(),
  pending_activity: z.object({ type: z.string(), attempt: z.number(), last_failure: z.string().nullable() }).nullable(),
  last_failure: z.string().nullable(),
});
export type OperationView = z.infer<typeof operationView>;

const importMode = z.enum(['merge', 'reconcile', '']).optional().describe('merge (default; "" means merge) or reconcile');
/** Exactly one of dir (a template on disk) or template (inline): a one-of in the document. */
export const orgImportBody = z.xor([
  z.object({ dir: z.string().min(1).max(300).describe('template directory, relative to TEMPLATES_ROOT'), template: z.never().optional(), mode: importMode }),
  z.object({
    dir: z.never().optional(),
    template: z.record(z.string(), z.unknown()).describe('inline template (org.yaml as JSON); includes are rejected'),
    mode: importMode,
  }),
]);

/** Keys the request schemas define: the only names a validation error's field path may show. */
export const SCHEMA_FIELD_NAMES: ReadonlySet<string> = new Set(
  [
    createWorkspaceBody,
    provisionFields,
    restartFields,
    idParams,
    secretParams,
    globalSecretParams,
    secretBody,
    secretWriteBody,
    modelBody,
    filesBody,
    ...fileEntry.options,
    providerBody,
    getWorkspaceQuery,
    listWorkspacesQuery,
    patchWorkspaceBody,
    budgetBody,
    tokenListQuery,
    tokenParams,
    activityQuery,
    registerBody,
    heartbeatBody,
    runtimeMetadata,
    bootstrapBody,
    deleteQuery,
    ...orgImportBody.options,
    hibernateQuery,
  ].flatMap((schema) => Object.keys(schema.shape)),
);
