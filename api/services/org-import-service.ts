// Org import, API side: resolve the template (a directory under TEMPLATES_ROOT, or inline), parse it,
// preflight required env against non-empty global secrets, then store the snapshot and start the
// workflow. Parse failures emit no event; everything after the parse is paired started/completed.
// An import whose workflow cannot be started is marked failed at once (never a `running` row with
// nothing behind it) and can be retried; cancel is the one way to stop a running import.
import { randomUUID } from 'node:crypto';
import { existsSync, readdirSync, realpathSync, statSync } from 'node:fs';
import { isAbsolute, join, resolve, sep } from 'node:path';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy, TypedSearchAttributes } from '@temporalio/common';
import { WorkflowNotFoundError, type Client } from '@temporalio/client';
import type { Config } from '../../config';
import type { SecretBox } from '../../activities/crypto';
import { createGitExternalResolver, parseRewrites } from '../../activities/template-git';
import { gatherTemplateMaterials, type SnapshotFile } from '../../activities/template-materials';
import { readSnapshot, sealTemplateSecrets, SNAPSHOT_FORMAT } from '../../activities/template-snapshot';
import type { WorkspaceStore } from '../../activities/workspace-store';
import { DomainError } from '../../domain/errors';
import { DEFAULT_ITEMS_PAGE, formatItemCursor, type ItemCursor } from '../../domain/import-item-cursor';
import { computeFor } from '../../domain/workspace-defaults';
import { importSummary } from '../../domain/workflow-summary';
import {
  collectEnvRequirements,
  contentAddress,
  countWorkspaces,
  flattenTemplate,
  templateEnvLists,
  diskFileSource,
  missingEnv,
  orgKeyOf,
  parseOrgTemplate,
  TemplateError,
  type ExternalResolver,
  type OrgTemplate,
} from '../../domain/org-template';
import { OrgImportIdKey } from '../../domain/search-attributes';

/** One entry of GET /org/templates (A13.1); `error` is the template error code of one that does not parse. */
export interface TemplateListing {
  dir: string;
  name: string;
  description: string;
  workspaces: number;
  required_env: string[];
  recommended_env: string[];
  error?: string;
}
import { EVENTS, workflowIds, type OrgImportMode, type OrgImportStatus } from '../../domain/vocabulary';
import { importProgressQuery, type ImportOrgInput, type ImportProgress } from '../../workflows/definitions';

/** Shown for an import whose workflow could not be started (stored as its error, answered with 503). */
export const IMPORT_NOT_STARTED_MESSAGE = 'the import workflow could not be started (the workflow service is unavailable); retry with POST /org/imports/:id/retry';
const CANCELLED_WITHOUT_WORKFLOW = 'import cancelled';

const DIR_PATTERN = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}(\/[A-Za-z0-9][A-Za-z0-9._-]{0,99}){0,7}$/;

/** The org_imports columns the progress stream reads. */
interface ImportProgressRow {
  status: OrgImportStatus;
  workflow_id: string;
  created_count: number;
  skipped_count: number;
  failed_count: number;
  reconcile_removed_count: number;
  error: string | null;
}

export interface OrgImportServiceDeps {
  config: Config;
  store: WorkspaceStore;
  /** Seals the snapshot's env values: org_imports.template never holds a secret in clear. */
  box: SecretBox;
  client: Client;
  /** Gets the parser's redacted internal detail of a rejected template (never sent to the caller). */
  log?: { warn(obj: object, msg?: string): void };
}

/** False for a missing file, a directory, a FIFO, a symlink loop (ELOOP) or anything unreadable. */
function isRegularFile(path: string): boolean {
  try {
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

export function templateError(err: TemplateError): DomainError {
  // TemplateError messages and paths never carry raw input (the parser guarantees it).
  return new DomainError('INVALID_TEMPLATE', 400, err.message, { template_error: err.code, file: err.file, path: err.path });
}

export function createOrgImportService({ config, store, box, client, log }: OrgImportServiceDeps) {
  const templatesRoot = resolve(config.TEMPLATES_ROOT);
  const externals = {
    allowedExternalRepos: config.TEMPLATE_GIT_ALLOW.split(',').map((h) => h.trim()).filter(Boolean),
    resolveExternal: createGitExternalResolver({
      cacheDir: resolve(config.TEMPLATE_CACHE_DIR),
      token: config.TEMPLATE_GIT_TOKEN || undefined,
      rewrites: parseRewrites(config.TEMPLATE_GIT_REWRITE),
      maxCloneBytes: config.TEMPLATE_GIT_MAX_CLONE_MB * 1024 * 1024,
      maxCacheBytes: config.TEMPLATE_CACHE_MAX_MB * 1024 * 1024,
    }),
  };

  /** Confines `dir` to the templates root: pattern first, then the real path (symlinks). */
  function resolveDir(dir: string): string {
    if (isAbsolute(dir) || !DIR_PATTERN.test(dir) || dir.split('/').some((s) => s === '.' || s === '..')) {
      throw new DomainError('INVALID_DIR', 400, 'dir must be a relative template directory name under the templates root');
    }
    const full = join(templatesRoot, dir);
    if (!existsSync(full) || !statSync(full).isDirectory()) throw new DomainError('NOT_FOUND', 404, 'template directory not found');
    // Only a missing org.yaml is a 404; any other missing file (an !include target) is a template error.
    if (!isRegularFile(join(full, 'org.yaml'))) throw new DomainError('NOT_FOUND', 404, 'template org.yaml not found');
    const real = realpathSync(full);
    const rootReal = existsSync(templatesRoot) ? realpathSync(templatesRoot) : templatesRoot;
    if (real !== rootReal && !real.startsWith(rootReal + sep)) throw new DomainError('INVALID_DIR', 400, 'dir must stay under the templates root');
    return real;
  }

  /** The template, with what it takes from its directory (files, `.env` layers) gathered for the snapshot. */
  async function parse(body: { dir?: string; template?: unknown }): Promise<{ template: OrgTemplate; files: SnapshotFile[] }> {
    if ((body.dir === undefined) === (body.template === undefined)) {
      throw new DomainError('INVALID_REQUEST', 400, 'give exactly one of dir or template');
    }
    const root = body.dir !== undefined ? resolveDir(body.dir) : null;
    // Where each !external subtree of this template was checked out: a files_dir inside one is copied from there.
    const externalRoots = new Map<string, string>();
    const recording: ExternalResolver = async (ref) => {
      const resolved = await externals.resolveExternal(ref);
      if (resolved.root) externalRoots.set(contentAddress(ref), resolved.root);
      return resolved;
    };
    const template = await parseTemplate(body, root, { ...externals, resolveExternal: recording });
    try {
      return { template, files: await gatherTemplateMaterials(template, root, config.MOLECULE_PERSONA_ROOT, externalRoots) };
    } catch (err) {
      if (err instanceof TemplateError) throw templateError(err);
      throw err;
    }
  }

  async function parseTemplate(body: { dir?: string; template?: unknown }, root: string | null, withExternals: typeof externals): Promise<OrgTemplate> {
    try {
      if (root !== null) {
        return await parseOrgTemplate({ source: diskFileSource(root), env: config.templateVars, ...withExternals });
      }
      // Inline templates expand nothing: their caller can write the value itself.
      return await parseOrgTemplate({ inline: body.template, env: {}, ...withExternals });
    } catch (err) {
      if (err instanceof TemplateError) {
        log?.warn({ template_error: err.code, file: err.file, path: err.path, detail: err.internalDetail }, 'template rejected');
        throw templateError(err);
      }
      throw err;
    }
  }

  /** The running workflow's own progress; null once it finished or when it does not answer. */
  async function liveProgress(row: { status: string; workflow_id: string }): Promise<ImportProgress | null> {
    if (row.status !== 'running') return null;
    return client.workflow.getHandle(row.workflow_id).query(importProgressQuery).catch(() => null);
  }

  /** Ends an import that never ran (its workflow could not start, or is gone) with its event pair. */
  async function closeWithoutWorkflow(importId: string, status: 'failed' | 'cancelled', error: string): Promise<boolean> {
    const { rows } = await store.pool.query<{ mode: OrgImportMode; template_name: string | null }>(
      `UPDATE org_imports SET status = $2, error = $3, completed_at = now() WHERE id = $1 AND status = 'running'
       RETURNING mode, template_name`,
      [importId, status, error],
    );
    const row = rows[0];
    if (!row) return false;
    // Same dedupe keys as the workflow's activities: had the workflow run after all, its events are not doubled.
    await store.recordEvent(EVENTS.orgImportStarted, { orgImportId: importId, payload: { name: row.template_name, mode: row.mode }, dedupeKey: `${importId}:started` });
    await store.recordEvent(EVENTS.orgImportCompleted, {
      orgImportId: importId,
      payload: { mode: row.mode, created: 0, skipped: 0, failed: 0, reconcile_removed: 0, duration_ms: 0, error, status },
      dedupeKey: `${importId}:completed`,
    });
    return true;
  }

  /** Stores the snapshot (template and its files, in one transaction) and starts the workflow. */
  /**
   * As POST /workspaces refuses a compute kind this platform has no provider for, an import refuses a
   * tree that needs one: its rows could never be provisioned, nor their compute stopped by a delete.
   */
  function requireComputeProviders(template: OrgTemplate): void {
    const needed = new Set(
      flattenTemplate(template)
        .filter((ws) => ws.spawn)
        .map((ws) => computeFor(ws.runtime, ws.compute, config.DEFAULT_COMPUTE)),
    );
    const missing = [...needed].filter((kind) => kind !== 'none' && !config.computeProviders.has(kind)).sort();
    if (missing.length > 0) {
      throw new DomainError('COMPUTE_NOT_CONFIGURED', 400, `the template needs compute this platform has no provider for: ${missing.join(', ')}`);
    }
  }

  async function start(template: OrgTemplate, mode: OrgImportMode, retryOf: string | null, files: SnapshotFile[]) {
    requireComputeProviders(template);
    const importId = randomUUID();
    const workflowId = workflowIds.orgImport(importId);
    await store.inTransaction(async (db) => {
      await db.query(
        'INSERT INTO org_imports (id, retry_of, mode, template_name, template, snapshot_format, workflow_id, org_key) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)',
        [importId, retryOf, mode, template.name, JSON.stringify(sealTemplateSecrets(template, box)), SNAPSHOT_FORMAT.sealed, workflowId, orgKeyOf(template)],
      );
      // A retry takes the files of the import it retries; a new import those just read from its directory.
      if (retryOf) await store.copyImportFiles(db, retryOf, importId);
      await store.putImportFiles(db, importId, files);
    });
    try {
      const handle = await client.workflow.start('importOrg', {
        taskQueue: config.TASK_QUEUE,
        workflowId,
        args: [{ importId } satisfies ImportOrgInput],
        workflowIdConflictPolicy: WorkflowIdConflictPolicy.FAIL,
        workflowIdReusePolicy: WorkflowIdReusePolicy.REJECT_DUPLICATE,
        typedSearchAttributes: new TypedSearchAttributes([{ key: OrgImportIdKey, value: importId }]),
        // The Temporal UI's list says which template and how big: "import Acme Org (42 workspaces, merge)".
        staticSummary: importSummary(template.name, countWorkspaces(template), mode) + (retryOf ? `, retry of ${retryOf}` : ''),
      });
      return { importId, workflowId, runId: handle.firstExecutionRunId };
    } catch (err) {
      log?.warn({ err, import_id: importId }, 'import workflow could not be started');
      await closeWithoutWorkflow(importId, 'failed', IMPORT_NOT_STARTED_MESSAGE);
      throw new DomainError('IMPORT_NOT_STARTED', 503, IMPORT_NOT_STARTED_MESSAGE, { import_id: importId });
    }
  }

  return {
    async importOrg(body: { dir?: string; template?: unknown; mode?: OrgImportMode | '' }) {
      const { template, files } = await parse(body);
      const mode: OrgImportMode = body.mode || 'merge';
      const requirements = collectEnvRequirements(template);
      const missing = missingEnv(requirements, await store.nonEmptyGlobalSecretNames());
      if (missing.length > 0) {
        // After the parse, so the pair of events is recorded even though nothing is created.
        const importId = randomUUID();
        await store.recordEvent(EVENTS.orgImportStarted, { orgImportId: importId, payload: { name: template.name, mode } });
        await store.recordEvent(EVENTS.orgImportCompleted, {
          orgImportId: importId,
          payload: { mode, created: 0, skipped: 0, reconcile_removed: 0, duration_ms: 0, error: 'missing required env' },
        });
        // A13.2: what is missing, everything the template requires, and what to do about it.
        throw new DomainError('MISSING_ENV', 412, 'required environment variables are not set as global secrets', {
          missing_env: missing,
          required_env: [...requirements.required, ...requirements.requiredAnyOf.map((g) => g.join('|'))].sort(),
          template: template.name,
          suggestion: 'set each missing variable as a global secret (PUT /settings/secrets {key, value}; for A|B, either one), then import again',
          import_id: importId,
        });
      }
      return { ...(await start(template, mode, null, files)), warnings: template.warnings };
    },

    async retry(importId: string) {
      const { rows } = await store.pool.query<{ status: string; mode: OrgImportMode; template: OrgTemplate; snapshot_format: number }>(
        'SELECT status, mode, template, snapshot_format FROM org_imports WHERE id = $1',
        [importId],
      );
      const row = rows[0];
      if (!row) throw new DomainError('NOT_FOUND', 404, 'import not found');
      if (row.status === 'running') throw new DomainError('IMPORT_RUNNING', 409, 'the import is still running');
      if (row.status === 'completed') throw new DomainError('NOTHING_TO_RETRY', 409, 'the import completed without failures');
      return start(readSnapshot(row, box), row.mode, importId, []);
    },

    /**
     * Cancels a running import: its workflow is cancelled, which cancels its in-flight provisions (each
     * compensates as any cancelled provision does) and ends the import `cancelled`. Repeating it while
     * the cancellation runs, or after, gives the same answer; a finished import is a 409.
     */
    async cancel(importId: string): Promise<{ status: 'cancelling' | 'cancelled'; workflowId: string }> {
      const { rows } = await store.pool.query<{ status: OrgImportStatus; workflow_id: string }>('SELECT status, workflow_id FROM org_imports WHERE id = $1', [importId]);
      const row = rows[0];
      if (!row) throw new DomainError('NOT_FOUND', 404, 'import not found');
      if (row.status === 'cancelled') return { status: 'cancelled', workflowId: row.workflow_id };
      if (row.status !== 'running') throw new DomainError('IMPORT_NOT_RUNNING', 409, `the import is not running (it is ${row.status})`, { status: row.status });
      try {
        await client.workflow.getHandle(row.workflow_id).cancel();
        return { status: 'cancelling', workflowId: row.workflow_id };
      } catch (err) {
        if (!(err instanceof WorkflowNotFoundError)) throw err;
      }
      // No running workflow behind a running row (it closed meanwhile, or never existed).
      if (await closeWithoutWorkflow(importId, 'cancelled', CANCELLED_WITHOUT_WORKFLOW)) return { status: 'cancelled', workflowId: row.workflow_id };
      const now = await store.pool.query<{ status: OrgImportStatus }>('SELECT status FROM org_imports WHERE id = $1', [importId]);
      const status = now.rows[0]?.status;
      if (status === 'cancelled') return { status: 'cancelled', workflowId: row.workflow_id };
      throw new DomainError('IMPORT_NOT_RUNNING', 409, `the import is not running (it is ${status})`, { status });
    },

    /** The import, its live progress and one page of its items in (depth, key) order after `after`. */
    async describe(importId: string, page: { limit: number; after: ItemCursor | null } = { limit: DEFAULT_ITEMS_PAGE, after: null }) {
      const { rows } = await store.pool.query(
        `SELECT id, retry_of, mode, status, template_name, org_key, workflow_id, created_count, skipped_count, failed_count,
                reconcile_removed_count, reconcile_kept, error, started_at, completed_at
           FROM org_imports WHERE id = $1`,
        [importId],
      );
      const row = rows[0];
      if (!row) throw new DomainError('NOT_FOUND', 404, 'import not found');
      // The running workflow's progress is asked beside the item reads, not before them: its answer comes
      // through the worker, so under load it is the slowest part of this view and no longer adds to them.
      // workspace_status is live: after `superseded`, it shows what the restart or re-provision made of it.
      const [live, items, total] = await Promise.all([
        liveProgress(row),
        store.pool.query<{ key: string; depth: number }>(
          `SELECT i.key, i.depth, i.workspace_id, i.outcome, i.error, w.status AS workspace_status
             FROM org_import_items i LEFT JOIN workspaces w ON w.id = i.workspace_id
            WHERE i.import_id = $1 AND ($2::int IS NULL OR (i.depth, i.key) > ($2::int, $3::text))
            ORDER BY i.depth, i.key LIMIT $4`,
          [importId, page.after?.depth ?? null, page.after?.key ?? null, page.limit + 1],
        ),
        store.pool.query<{ n: number }>('SELECT count(*)::int AS n FROM org_import_items WHERE import_id = $1', [importId]),
      ]);
      const shown = items.rows.slice(0, page.limit);
      const last = shown[shown.length - 1];
      const next = items.rows.length > page.limit && last ? formatItemCursor({ depth: last.depth, key: last.key }) : null;
      return { row, live, items: shown, total: total.rows[0].n, next };
    },

    /** Status, counts and live progress only: what the progress stream sends, polled twice a second. */
    async progress(importId: string) {
      const { rows } = await store.pool.query<ImportProgressRow>(
        `SELECT status, workflow_id, created_count, skipped_count, failed_count, reconcile_removed_count, error
           FROM org_imports WHERE id = $1`,
        [importId],
      );
      const row = rows[0];
      if (!row) throw new DomainError('NOT_FOUND', 404, 'import not found');
      return { row, live: await liveProgress(row) };
    },

    /** Template directories under the root with their workspace counts (includes expanded). */
    async listTemplates() {
      if (!existsSync(templatesRoot)) return [];
      const out: TemplateListing[] = [];
      for (const entry of readdirSync(templatesRoot, { withFileTypes: true })) {
        if (!entry.isDirectory() || !DIR_PATTERN.test(entry.name)) continue;
        try {
          const t = await parseOrgTemplate({ source: diskFileSource(join(templatesRoot, entry.name)), env: config.templateVars, ...externals });
          out.push({ dir: entry.name, name: t.name, description: t.description ?? '', workspaces: countWorkspaces(t), ...templateEnvLists(t) });
        } catch (err) {
          out.push({
            dir: entry.name, name: '', description: '', workspaces: 0, required_env: [], recommended_env: [],
            error: err instanceof TemplateError ? err.code : 'unreadable',
          });
        }
      }
      return out.sort((a, b) => a.dir.localeCompare(b.dir));
    },
  };
}

