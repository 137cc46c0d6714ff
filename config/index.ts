// Every environment variable the processes read, with its default, in one place. The README's table is
// kept in step with this file.
import { z } from 'zod';
import { MAX_PROVISION_TIMEOUT_SECONDS } from '../domain/provision-timeout';
import { normaliseRepoPattern } from '../domain/org-template/external';
import { SAFE_BASE_URL } from '../domain/external-connection';
import { parseAllowCidrs, type Cidr } from '../domain/push-url';
import { parseContainerLimits, type ContainerLimitConfig } from './container-limits';
import { isListableTemplateVar, parseTemplateVarList, templateVariables } from './template-vars';

const optionalInt = (min: number, max: number) =>
  z
    .string()
    .optional()
    .transform((v) => (v === undefined || v.trim() === '' ? undefined : Number(v)))
    .pipe(z.number().int().min(min).max(max).optional());

const schema = z.object({
  DATABASE_URL: z.string().default('postgres://postgres@127.0.0.1:5432/molecule'),
  TEMPORAL_ADDRESS: z.string().default('127.0.0.1:7233'),
  TEMPORAL_NAMESPACE: z.string().default('default'),
  /** PEM files for mTLS to Temporal (config/temporal-tls.ts); all empty means a plaintext connection. */
  TEMPORAL_TLS_CERT: z.string().default(''),
  TEMPORAL_TLS_KEY: z.string().default(''),
  TEMPORAL_TLS_CA: z.string().default(''),
  /** SNI / host name the server certificate is checked against, when it differs from TEMPORAL_ADDRESS's host. */
  TEMPORAL_TLS_SERVER_NAME: z.string().default(''),
  TASK_QUEUE: z.string().default('workspace-lifecycle'),
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: optionalInt(0, 65535).transform((v) => v ?? 8080),
  /** Bearer token for admin (mutating) routes. Empty means admin routes answer 401 to everyone. */
  ADMIN_TOKEN: z.string().default(''),
  /**
   * Bearer token that may read GET /metrics (and nothing else), for the Prometheus scraper; the admin
   * token reads it too. Empty: only the admin token.
   */
  METRICS_TOKEN: z.string().default(''),
  /**
   * The worker serves Prometheus text (its own metrics and the Temporal SDK's) at /metrics on this
   * port, without authentication: bind it where only the scraper reaches it. Empty or 0: no server.
   */
  WORKER_METRICS_PORT: optionalInt(0, 65535).transform((v) => v ?? 0),
  /** The interface of the worker's metrics server; 0.0.0.0 in a container the scraper reaches over a network. */
  WORKER_METRICS_HOST: z.string().default('127.0.0.1'),
  /** 32-byte key (hex or base64) for AES-256-GCM encryption of secrets at rest. */
  SECRETS_KEY: z.string().default(''),
  /** URL the agents inside workspaces use to reach the API (registration, heartbeats). */
  PLATFORM_URL: z.string().default('http://127.0.0.1:8080'),
  /**
   * URL an agent outside the platform's network uses to reach the API: the `connection` of an external
   * workspace is built on it (A5.3). Empty: the scheme and host the create request came in on.
   */
  EXTERNAL_PLATFORM_URL: z
    .string()
    .default('')
    .refine((v) => v === '' || SAFE_BASE_URL.test(v), 'must be an http(s) URL (host, port, path) without quotes, query or fragment'),
  COMPUTE_PROVIDERS: z.string().default('docker'),
  DEFAULT_COMPUTE: z.enum(['docker', 'ec2']).default('docker'),
  DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
  DOCKER_NETWORK: z.string().default('molecule-core-net'),
  /** Extra labels (k=v,k=v) put on every container and volume; the test harness tags its runs with it. */
  DOCKER_EXTRA_LABELS: z.string().default(''),
  /** Extra tags (k=v,k=v) put on every EC2 instance. */
  EC2_EXTRA_TAGS: z.string().default(''),
  WORKSPACE_IMAGE: z.string().default('localhost/molecule-agent:latest'),
  /** Workspace container limits (config/container-limits.ts); each has a CONTAINER_*_<RUNTIME> override. */
  CONTAINER_MEMORY_MB: z.string().default(''),
  CONTAINER_PIDS_LIMIT: z.string().default(''),
  CONTAINER_CPUS: z.string().default(''),
  /**
   * CIDRs (comma-separated) a registered push URL may point into although they are internal: loopback,
   * private, link-local... for dev setups only. The metadata service stays refused whatever it says.
   */
  PUSH_URL_ALLOW_CIDRS: z.string().default(''),
  /** Seconds between agent heartbeats, passed to the agent as HEARTBEAT_INTERVAL. */
  HEARTBEAT_INTERVAL_SECONDS: optionalInt(1, 3600).transform((v) => v ?? 10),
  /** A1.3: an external agent silent for this many seconds goes awaiting_agent (never offline). */
  REMOTE_LIVENESS_STALE_AFTER: optionalInt(1, 86_400).transform((v) => v ?? 90),
  /**
   * Dead platform agents (heartbeats stopped, container exited, instance stopped) are restarted
   * automatically unless this is `off` (they are still marked offline).
   */
  AUTO_RESTART: z.enum(['on', 'off']).default('on'),
  /** Crash-loop protection: at most this many automatic restarts per window; one more fails the workspace. */
  AUTO_RESTART_MAX_ATTEMPTS: optionalInt(1, 100).transform((v) => v ?? 3),
  AUTO_RESTART_WINDOW_SECONDS: optionalInt(60, 7 * 86_400).transform((v) => v ?? 900),
  /** Wait before automatic attempt k: this times 2^(k-1), at most AUTO_RESTART_BACKOFF_MAX_SECONDS. */
  AUTO_RESTART_BACKOFF_SECONDS: optionalInt(0, 3600).transform((v) => v ?? 10),
  AUTO_RESTART_BACKOFF_MAX_SECONDS: optionalInt(0, 86_400).transform((v) => v ?? 300),
  EC2_ENDPOINT: z.string().optional(),
  AWS_REGION: z.string().default('us-east-1'),
  EC2_AMI_ID: z.string().default(''),
  EC2_INSTANCE_TYPE: z.string().default('t3.micro'),
  PROVISION_TIMEOUT_SECONDS: optionalInt(1, MAX_PROVISION_TIMEOUT_SECONDS),
  TEMPLATES_ROOT: z.string().default('./org-templates'),
  /** More variables `${VAR}` in on-disk templates may read, besides every TEMPLATE_VAR_* (config/template-vars.ts). */
  TEMPLATE_VARS: z.string().default(''),
  /**
   * Repositories `!external` may name, comma-separated: `host/owner/` (a prefix: every repository of the
   * owner) or `host/owner/repo` (exactly that one). Empty: no `!external` at all.
   */
  TEMPLATE_GIT_ALLOW: z.string().default(''),
  /** Bearer token for `!external` fetches: sent only to the allowlisted repository being fetched, never on a redirect. */
  TEMPLATE_GIT_TOKEN: z.string().default(''),
  /** Mirrors: `base=prefix,...`, fetched as git's url.<base>.insteadOf=<prefix>. */
  TEMPLATE_GIT_REWRITE: z.string().default(''),
  /** Cache of fetched `!external` checkouts, one entry per repository and resolved commit. */
  TEMPLATE_CACHE_DIR: z.string().default('./.data/template-cache'),
  /** A single `!external` fetch (git data and checkout) is aborted beyond this size. */
  TEMPLATE_GIT_MAX_CLONE_MB: optionalInt(1, 100_000).transform((v) => v ?? 50),
  /** Least recently used cache entries are evicted beyond this total. */
  TEMPLATE_CACHE_MAX_MB: optionalInt(1, 1_000_000).transform((v) => v ?? 500),
  /** /readyz answers from its last probe for this long, so hammering it cannot spend a provider's API budget. */
  READYZ_CACHE_SECONDS: optionalInt(0, 300).transform((v) => v ?? 5),
  LOG_LEVEL: z.string().default('info'),
  /** GET /buildinfo's git_sha: the commit the running build came from (set by the deploy). */
  GIT_SHA: z
    .string()
    .regex(/^[A-Za-z0-9._-]{1,100}$/, 'expected a commit id or version (letters, digits, . _ -)')
    .default('dev'),
  /** The worker creates the orphan-sweeper Schedule (every 60 s, one pass at boot) unless this is false. */
  SWEEPER_ENABLED: z.enum(['true', 'false']).default('true'),
  /** Worker: a pre-built workflow bundle to load (worker/workflow-bundle.ts); unset, a compiled worker uses its build's. */
  WORKFLOW_BUNDLE_PATH: z.string().default(''),
  /** Worker: a file whose mtime it refreshes every 10 s while polling (the image's HEALTHCHECK reads it); empty: none. */
  WORKER_HEALTH_FILE: z.string().default(''),
  /** Persona env files (A7.2): `<root>/<files_dir slug>/env`, read when an import is accepted. */
  MOLECULE_PERSONA_ROOT: z.string().default('/etc/molecule-bootstrap/personas'),
  /** Concurrent GET /events/stream connections per API process; one more answers 429. */
  EVENT_STREAM_MAX: optionalInt(1, 10_000).transform((v) => v ?? 100),
  /** Bytes a stream may have queued for a client that does not read; past it the client is disconnected. */
  EVENT_STREAM_BUFFER_BYTES: optionalInt(1024, 64 * 1024 * 1024).transform((v) => v ?? 1024 * 1024),
  /** An idle stream sends a comment this often, so proxies and clients see the connection is alive. */
  EVENT_STREAM_KEEPALIVE_SECONDS: optionalInt(1, 3600).transform((v) => v ?? 15),
});

/** Every variable the processes read (the README's table and docker-compose.yml are checked against it). */
export const CONFIG_KEYS = Object.keys(schema.shape);

export type Config = z.infer<typeof schema> & {
  computeProviders: Set<'docker' | 'ec2'>;
  /** What `${VAR}` in on-disk templates expands from: the allowlisted variables only, read once at start. */
  templateVars: Readonly<Record<string, string>>;
  /** CONTAINER_MEMORY_MB / _PIDS_LIMIT / _CPUS and their per-runtime overrides, validated at start. */
  containerLimits: ContainerLimitConfig;
  /** PUSH_URL_ALLOW_CIDRS, parsed. */
  pushUrlAllow: Cidr[];
};

export function loadConfig(env: NodeJS.ProcessEnv = process.env): Config {
  const parsed = schema.safeParse(env);
  if (!parsed.success) {
    const fields = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new Error(`invalid configuration: ${fields}`);
  }
  const providers = new Set<'docker' | 'ec2'>();
  for (const p of parsed.data.COMPUTE_PROVIDERS.split(',').map((s) => s.trim()).filter(Boolean)) {
    if (p !== 'docker' && p !== 'ec2') throw new Error(`invalid configuration: COMPUTE_PROVIDERS: unknown provider`);
    providers.add(p);
  }
  // A renamed variable fails loudly: silently ignoring it would refuse every !external after an upgrade.
  if (env.TEMPLATE_GIT_HOSTS !== undefined) {
    throw new Error('invalid configuration: TEMPLATE_GIT_HOSTS was replaced by TEMPLATE_GIT_ALLOW, which names repository prefixes such as github.com/acme/');
  }
  if (parseTemplateVarList(parsed.data.TEMPLATE_GIT_ALLOW).some((p) => normaliseRepoPattern(p) === null)) {
    throw new Error('invalid configuration: TEMPLATE_GIT_ALLOW: expected host/owner/ or host/owner/repo entries');
  }
  const listed = parseTemplateVarList(parsed.data.TEMPLATE_VARS);
  // Loud rather than silently ignored: an operator who lists SECRETS_KEY expects it to work.
  if (listed.some((name) => !isListableTemplateVar(name, CONFIG_KEYS))) {
    throw new Error('invalid configuration: TEMPLATE_VARS: names platform configuration or a credential, which templates may never read');
  }
  return {
    ...parsed.data,
    computeProviders: providers,
    templateVars: templateVariables(env, listed, CONFIG_KEYS),
    containerLimits: parseContainerLimits(env),
    pushUrlAllow: parseAllowCidrs(parsed.data.PUSH_URL_ALLOW_CIDRS),
  };
}

/** Image per runtime: WORKSPACE_IMAGE_<RUNTIME> (dashes as underscores) overrides WORKSPACE_IMAGE. */
export function imageForRuntime(config: Config, runtime: string, env: NodeJS.ProcessEnv = process.env): string {
  const key = `WORKSPACE_IMAGE_${runtime.toUpperCase().replace(/-/g, '_')}`;
  return env[key] || config.WORKSPACE_IMAGE;
}

/** Parses `k=v,k=v` into a record; used for DOCKER_EXTRA_LABELS and EC2_EXTRA_TAGS. */
export function parseKeyValueList(value: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const pair of value.split(',').map((s) => s.trim()).filter(Boolean)) {
    const eq = pair.indexOf('=');
    if (eq <= 0) throw new Error('invalid configuration: expected k=v pairs');
    out[pair.slice(0, eq)] = pair.slice(eq + 1);
  }
  return out;
}
