// Every environment variable the processes read, with its default, in one place. The README's table is
// kept in step with this file.
import { z } from 'zod';
import { MAX_PROVISION_TIMEOUT_SECONDS } from '../domain/provision-timeout';

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
  TASK_QUEUE: z.string().default('workspace-lifecycle'),
  API_HOST: z.string().default('127.0.0.1'),
  API_PORT: optionalInt(0, 65535).transform((v) => v ?? 8080),
  /** Bearer token for admin (mutating) routes. Empty means admin routes answer 401 to everyone. */
  ADMIN_TOKEN: z.string().default(''),
  /** 32-byte key (hex or base64) for AES-256-GCM encryption of secrets at rest. */
  SECRETS_KEY: z.string().default(''),
  /** URL the agents inside workspaces use to reach the API (registration, heartbeats). */
  PLATFORM_URL: z.string().default('http://127.0.0.1:8080'),
  COMPUTE_PROVIDERS: z.string().default('docker'),
  DEFAULT_COMPUTE: z.enum(['docker', 'ec2']).default('docker'),
  DOCKER_SOCKET: z.string().default('/var/run/docker.sock'),
  DOCKER_NETWORK: z.string().default('molecule-core-net'),
  /** Extra labels (k=v,k=v) put on every container and volume; the test harness tags its runs with it. */
  DOCKER_EXTRA_LABELS: z.string().default(''),
  /** Extra tags (k=v,k=v) put on every EC2 instance. */
  EC2_EXTRA_TAGS: z.string().default(''),
  WORKSPACE_IMAGE: z.string().default('localhost/molecule-agent:latest'),
  /** Seconds between agent heartbeats, passed to the agent as HEARTBEAT_INTERVAL. */
  HEARTBEAT_INTERVAL_SECONDS: optionalInt(1, 3600).transform((v) => v ?? 10),
  EC2_ENDPOINT: z.string().optional(),
  AWS_REGION: z.string().default('us-east-1'),
  EC2_AMI_ID: z.string().default(''),
  EC2_INSTANCE_TYPE: z.string().default('t3.micro'),
  PROVISION_TIMEOUT_SECONDS: optionalInt(1, MAX_PROVISION_TIMEOUT_SECONDS),
  TEMPLATES_ROOT: z.string().default('./org-templates'),
  /** Hosts `!external` repositories may live on (comma-separated, exact host match). */
  TEMPLATE_GIT_HOSTS: z.string().default('github.com'),
  /** Bearer token for cloning `!external` repositories (sent as a header, never in the URL). */
  TEMPLATE_GIT_TOKEN: z.string().default(''),
  /** Mirrors: `base=prefix,...`, fetched as git's url.<base>.insteadOf=<prefix>. */
  TEMPLATE_GIT_REWRITE: z.string().default(''),
  /** Content-addressed cache of fetched `!external` subtrees. */
  TEMPLATE_CACHE_DIR: z.string().default('./.data/template-cache'),
  LOG_LEVEL: z.string().default('info'),
  /** The worker creates the orphan-sweeper Schedule (every 60 s, one pass at boot) unless this is false. */
  SWEEPER_ENABLED: z.enum(['true', 'false']).default('true'),
  /** Concurrent GET /events/stream connections per API process; one more answers 429. */
  EVENT_STREAM_MAX: optionalInt(1, 10_000).transform((v) => v ?? 100),
  /** Bytes a stream may have queued for a client that does not read; past it the client is disconnected. */
  EVENT_STREAM_BUFFER_BYTES: optionalInt(1024, 64 * 1024 * 1024).transform((v) => v ?? 1024 * 1024),
  /** An idle stream sends a comment this often, so proxies and clients see the connection is alive. */
  EVENT_STREAM_KEEPALIVE_SECONDS: optionalInt(1, 3600).transform((v) => v ?? 15),
});

/** Every variable the processes read (the README's table and docker-compose.yml are checked against it). */
export const CONFIG_KEYS = Object.keys(schema.shape);

export type Config = z.infer<typeof schema> & { computeProviders: Set<'docker' | 'ec2'> };

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
  return { ...parsed.data, computeProviders: providers };
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
