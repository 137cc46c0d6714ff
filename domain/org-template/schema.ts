// The shape of a resolved org template. zod checks each object's own fields; the workspace tree itself
// is walked by validate.ts so depth, count, file attribution and sibling names are checked as it goes.
// Optional fields accept `null` as "not set" (YAML's `model:` with nothing after it).
import { z } from 'zod';
import { MAX_PROVISION_TIMEOUT_SECONDS } from '../provision-timeout';
import { UNSAFE_NAME_CHARS, type ComputeKind, type Runtime } from '../vocabulary';
import type { TemplateWarning } from './errors';

export const ENV_NAME_PATTERN = /^[A-Z][A-Z0-9_]{0,127}$/;
const CRON_FIELD = '[0-9A-Za-z*/,?#LW-]+';
const CRON_PATTERN = new RegExp(`^(?:@(?:yearly|annually|monthly|weekly|daily|hourly)|${CRON_FIELD}(?:[ \\t]+${CRON_FIELD}){4,5})$`);
const MAX_TEXT = 64 * 1024;

export const TEMPLATE_COMPUTE_KINDS = ['docker', 'ec2'] as const satisfies readonly ComputeKind[];

const clamp = (min: number, max: number) => (n: number) => Math.min(max, Math.max(min, n));

export const NameSchema = z
  .string()
  .trim()
  .min(1)
  .max(200)
  .refine((s) => !UNSAFE_NAME_CHARS.test(s), { message: 'must not contain control characters' });

export const EnvNameSchema = z.string().regex(ENV_NAME_PATTERN);

/**
 * An explicit org key: lower-case letters, digits, `-`, `_` and `.`, starting with a letter or digit,
 * at most 64 characters. It names the org whose workspaces an import owns (merge dedupe, reconcile).
 */
export const ORG_KEY_PATTERN = /^[a-z0-9][a-z0-9._-]{0,63}$/;
export const OrgKeySchema = z.string().regex(ORG_KEY_PATTERN, { message: 'must be a slug: a-z, 0-9, ".", "_" or "-", at most 64 characters' });

/** A strict name, or a group satisfied by any one of its members. */
export const EnvRequirementSchema = z.union([EnvNameSchema, z.object({ any_of: z.array(EnvNameSchema).min(1).max(64) })], {
  error: 'must be an env var name or {any_of: [names]}',
});

const CanvasSchema = z.object({
  x: z.number().transform(clamp(-1e6, 1e6)),
  y: z.number().transform(clamp(-1e6, 1e6)),
});

const ScheduleSchema = z.object({
  cron: z.string().trim().max(200).regex(CRON_PATTERN),
  prompt: z.string().min(1).max(MAX_TEXT),
  enabled: z.boolean().nullish(),
});

const settingsShape = {
  role: z.string().max(2000).nullish(),
  tier: z.number().int().min(0).max(10).nullish(),
  /** Any string; an unknown runtime falls back to the default (SPEC §1) with a warning. */
  runtime: z.string().max(100).nullish(),
  model: z.string().min(1).max(200).nullish(),
  /** Confined to the template root by validate.ts (the same guard as includes). */
  files_dir: z.string().nullish(),
  /** `${VAR}`-expanded by validate.ts. */
  workspace_dir: z.string().min(1).max(4096).nullish(),
  plugins: z.array(z.string().min(1).max(200).regex(/^[^\s\u0000-\u001f\u007f-\u009f]+$/)).max(100).nullish(),
  /** A6.2: written to /configs/system-prompt.md, over a files_dir's own. */
  system_prompt: z.string().min(1).max(MAX_TEXT).nullish(),
  required_env: z.array(EnvRequirementSchema).max(256).nullish(),
  recommended_env: z.array(EnvRequirementSchema).max(256).nullish(),
  spawning: z.boolean().nullish(),
  max_concurrent_tasks: z
    .number()
    .refine(Number.isInteger, { message: 'must be an integer' })
    .transform(clamp(1, 100))
    .nullish(),
  canvas: CanvasSchema.nullish(),
  schedules: z.array(ScheduleSchema).max(100).nullish(),
  prompts: z.array(z.string().max(MAX_TEXT)).max(100).nullish(),
  env: z
    .record(EnvNameSchema, z.string().max(MAX_TEXT))
    .refine((r) => Object.keys(r).length <= 256, { message: 'has too many entries' })
    .nullish(),
  compute: z.enum(TEMPLATE_COMPUTE_KINDS).nullish(),
  /** SPEC §2: the template's provision timeout sits between PROVISION_TIMEOUT_SECONDS and the runtime default. */
  runtime_config: z.object({ provision_timeout_seconds: z.number().int().min(1).max(MAX_PROVISION_TIMEOUT_SECONDS).nullish() }).nullish(),
};

/** `defaults`: every workspace field except the ones that identify or place a workspace in the tree. */
export const WorkspaceSettingsSchema = z.object(settingsShape);

export const WorkspaceSchema = z.object({
  name: NameSchema,
  ...settingsShape,
  /** Walked by validate.ts, not here. */
  children: z.array(z.unknown()).nullish(),
});

export const OrgSchema = z.object({
  name: NameSchema,
  org_key: OrgKeySchema.nullish(),
  description: z.string().max(10_000).nullish(),
  defaults: WorkspaceSettingsSchema.nullish(),
  required_env: settingsShape.required_env,
  recommended_env: settingsShape.recommended_env,
  workspaces: z.array(z.unknown()).nullish(),
});

export type EnvRequirement = string | { any_of: string[] };

export interface Schedule {
  cron: string;
  prompt: string;
  enabled: boolean;
}

export interface WorkspaceSettings {
  role?: string;
  tier?: number;
  runtime?: Runtime;
  model?: string;
  /** Root-relative; relative to the external subtree's root when `files_dir_external` is set. */
  files_dir?: string;
  /** Content address (cache entry) of the external subtree `files_dir` points into. */
  files_dir_external?: string;
  workspace_dir?: string;
  plugins?: string[];
  system_prompt?: string;
  required_env?: EnvRequirement[];
  recommended_env?: EnvRequirement[];
  spawning?: boolean;
  max_concurrent_tasks?: number;
  canvas?: { x: number; y: number };
  schedules?: Schedule[];
  prompts?: string[];
  env?: Record<string, string>;
  compute?: (typeof TEMPLATE_COMPUTE_KINDS)[number];
  runtime_config?: { provision_timeout_seconds?: number | null };
}

/** The org key an import of this template acts for: the explicit `org_key`, else the template's name. */
export function orgKeyOf(template: Pick<OrgTemplate, 'name' | 'org_key'>): string {
  return template.org_key ?? template.name;
}

export interface TemplateWorkspace extends WorkspaceSettings {
  name: string;
  children: TemplateWorkspace[];
  /**
   * Set by the platform when it accepts the import, never by the template: the env of the template's
   * `.env` files and persona (A7), below `defaults.env` and `env`; and which snapshot file sets
   * (`files_dir:<dir>`, `plugin:<name>`) the workspace's /configs gets (A6.2).
   */
  file_env?: Record<string, string>;
  file_sources?: string[];
}

export interface OrgTemplate {
  name: string;
  /** The org whose workspaces this template owns; unset means the template's name (see orgKeyOf). */
  org_key?: string;
  description?: string;
  /** Inherited by every workspace that does not set the field itself (whole-value replacement). */
  defaults: WorkspaceSettings;
  /** Org-level requirements, in addition to each workspace's. */
  required_env: EnvRequirement[];
  recommended_env: EnvRequirement[];
  workspaces: TemplateWorkspace[];
  /** Unknown keys and other tolerated oddities, never fatal. */
  warnings: TemplateWarning[];
}

