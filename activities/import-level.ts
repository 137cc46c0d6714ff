// One tree level of an org import, written in bulk inside the level's transaction: the workspaces
// (merge dedupe against the same org's rows), their layouts, provisioning events, external agents'
// credentials, and their materials (schedules, env secrets, /configs files), a statement per table.
import type { PoolClient } from 'pg';
import type { Config } from '../config';
import type { FlatWorkspace } from '../domain/org-template';
import { EVENTS, type ComputeKind, type ImportItemOutcome, type WorkspaceStatus } from '../domain/vocabulary';
import { computeFor, deliveryModeFor, initialStatusFor } from '../domain/workspace-defaults';
import { hashToken, newAuthToken, newInboundSecret, type SecretBox } from './crypto';
import type { WorkspaceStore } from './workspace-store';

function requiredNames(ws: FlatWorkspace): string[] {
  // Strict names only: an any_of group cannot be enforced per container (preflight checked it).
  return (ws.required_env ?? []).filter((e): e is string => typeof e === 'string');
}

/** One item of a level as createLevel leaves it. */
export interface LevelItem {
  id: string;
  outcome: ImportItemOutcome;
  /**
   * Whether the import's provisioning phase takes it (issue #19: fixed with the rows, where
   * nextProvisionPage reads it). Merge provisions what is new or failed; online and offline workspaces
   * keep the compute they have, and external agents have none.
   */
  needsProvision: boolean;
}

function needsProvision(outcome: ImportItemOutcome, compute: ComputeKind, status: WorkspaceStatus | null): boolean {
  return compute !== 'none' && (outcome === 'created' || (outcome === 'existing' && status === 'failed'));
}

export function createLevelWriter({ store, box, config }: { store: WorkspaceStore; box: SecretBox; config: Config }) {
  /**
   * Creates one tree level in bulk (a statement per table, not per workspace): finds the workspaces of
   * the same org that already exist under the same parent with the same name (merge dedupe; a
   * workspace created through the API or by another org never matches), inserts the rest with their
   * provenance, layouts, schedules, env secrets and, for external agents, credentials. Returns the item
   * per key: `existing`, or `skipped` for an existing one a provision of its own is still working on;
   * and whether the import's provisioning phase takes it (`needsProvision`, see LevelItem).
   */
  async function createLevel(
    db: PoolClient,
    importId: string,
    orgKey: string,
    level: Array<{ ws: FlatWorkspace; parentId: string | null }>,
    orgEnv: Record<string, string>,
    positions: Map<string, { x: number; y: number }>,
  ): Promise<Map<string, LevelItem>> {
    const out = new Map<string, LevelItem>();
    if (level.length === 0) return out;
    const scopeKey = (parentId: string | null, name: string) => `${parentId ?? ''}/${name}`;
    const existing = await db.query<{ id: string; parent_id: string | null; name: string; status: WorkspaceStatus; compute: ComputeKind }>(
      `SELECT DISTINCT ON (w.parent_id, w.name) w.id, w.parent_id, w.name, w.status, w.compute
         FROM workspaces w JOIN unnest($1::uuid[], $2::text[]) AS t(parent_id, name)
           -- Equality on COALESCE (the nil uuid is never a workspace's id) hash-joins; IS NOT DISTINCT
           -- FROM cannot, and compared every pair (9,000 x the org's rows at a 10,000-workspace level).
           ON COALESCE(w.parent_id, '00000000-0000-0000-0000-000000000000') = COALESCE(t.parent_id, '00000000-0000-0000-0000-000000000000') AND w.name = t.name
        WHERE w.status <> 'removed' AND w.origin = 'import' AND w.org_key = $3
        ORDER BY w.parent_id, w.name, w.created_at`,
      [level.map((l) => l.parentId), level.map((l) => l.ws.name), orgKey],
    );
    const found = new Map(existing.rows.map((r) => [scopeKey(r.parent_id, r.name), r]));
    const fresh = level.filter((l) => !found.has(scopeKey(l.parentId, l.ws.name)));
    for (const l of level) {
      const row = found.get(scopeKey(l.parentId, l.ws.name));
      // Merge never starts a second provision beside a running one (its start would collide with it).
      if (!row) continue;
      const outcome = row.status === 'provisioning' ? 'skipped' : 'existing';
      out.set(l.ws.key, { id: row.id, outcome, needsProvision: needsProvision(outcome, row.compute, row.status) });
    }
    if (fresh.length === 0) return out;

    const computes = fresh.map((l) => computeFor(l.ws.runtime, l.ws.compute, config.DEFAULT_COMPUTE));
    // External agents need no compute: their inbound secret is written with the row (a second UPDATE
    // of every row cost as much as the INSERT at 10,000 workspaces), their token below.
    const inserted = await db.query<{ id: string; parent_id: string | null; name: string }>(
      `INSERT INTO workspaces (name, role, tier, runtime, compute, parent_id, delivery_mode, model, max_concurrent_tasks,
                               required_env, provision_timeout_seconds, org_import_id, status, origin, org_key, platform_inbound_secret)
       SELECT t.name, t.role, t.tier, t.runtime, t.compute, t.parent_id, t.delivery_mode, t.model, t.max_tasks,
              ARRAY(SELECT jsonb_array_elements_text(t.required_env)), t.timeout, $11::uuid, t.status, 'import', $14::text, t.secret
         FROM unnest($1::text[], $2::text[], $3::int[], $4::text[], $5::text[], $6::uuid[], $7::text[], $8::int[], $9::jsonb[], $10::int[], $12::text[], $13::text[], $15::text[])
              AS t(name, role, tier, runtime, compute, parent_id, model, max_tasks, required_env, timeout, delivery_mode, status, secret)
       RETURNING id, parent_id, name`,
      [
        fresh.map((l) => l.ws.name),
        fresh.map((l) => l.ws.role ?? ''),
        fresh.map((l) => l.ws.tier ?? 1),
        fresh.map((l) => l.ws.runtime),
        computes,
        fresh.map((l) => l.parentId),
        fresh.map((l) => l.ws.model ?? null),
        fresh.map((l) => l.ws.max_concurrent_tasks ?? 1),
        fresh.map((l) => JSON.stringify(requiredNames(l.ws))),
        fresh.map((l) => l.ws.runtime_config?.provision_timeout_seconds ?? null),
        importId,
        fresh.map((l) => deliveryModeFor(l.ws.runtime)),
        computes.map(initialStatusFor),
        orgKey,
        computes.map((c) => (c === 'none' ? box.seal(newInboundSecret()) : null)),
      ],
    );
    // Sibling names are unique (the parser rejects duplicates), so (parent, name) identifies the row.
    const ids = new Map(inserted.rows.map((r) => [scopeKey(r.parent_id, r.name), r.id]));
    const created = fresh.map((l, i) => ({ ...l, id: ids.get(scopeKey(l.parentId, l.ws.name)) as string, compute: computes[i] }));
    for (const c of created) out.set(c.ws.key, { id: c.id, outcome: 'created', needsProvision: needsProvision('created', c.compute, null) });

    // Layouts store absolute positions; the template's canvas is parent-relative (A13.2).
    const withCanvas = created.filter((c) => c.ws.canvas);
    const at = (c: (typeof created)[number]) => positions.get(c.ws.key) ?? { x: 0, y: 0 };
    if (withCanvas.length > 0) {
      await db.query(
        `INSERT INTO canvas_layouts (workspace_id, x, y) SELECT * FROM unnest($1::uuid[], $2::float8[], $3::float8[])
         ON CONFLICT (workspace_id) DO NOTHING`,
        [withCanvas.map((c) => c.id), withCanvas.map((c) => at(c).x), withCanvas.map((c) => at(c).y)],
      );
    }
    // A13.2: each workspace the import creates for provisioning is announced with where it sits. A
    // workspace event (the import's own pair stays started/completed); the stream's ?org_import_id=
    // filter finds it through the workspace's import.
    const provisioning = created.filter((c) => c.compute !== 'none');
    if (provisioning.length > 0) {
      await db.query(
        `WITH inserted AS (
           INSERT INTO structure_events (event_type, workspace_id, payload, dedupe_key)
           SELECT $1, u.ws, u.payload, u.dedupe FROM unnest($2::uuid[], $3::jsonb[], $4::text[]) AS u(ws, payload, dedupe)
           ON CONFLICT (dedupe_key) DO NOTHING RETURNING 1)
         SELECT pg_notify('molecule_events', $5) FROM inserted LIMIT 1`,
        [
          EVENTS.workspaceProvisioning,
          provisioning.map((c) => c.id),
          provisioning.map((c) =>
            JSON.stringify({ name: c.ws.name, tier: c.ws.tier ?? 1, runtime: c.ws.runtime, x: c.ws.canvas?.x ?? 0, y: c.ws.canvas?.y ?? 0, ...(c.parentId ? { parent_id: c.parentId } : {}) }),
          ),
          provisioning.map((c) => `${importId}:${c.ws.key}:provisioning`),
          JSON.stringify({ type: EVENTS.workspaceProvisioning, workspaceId: null, orgImportId: importId }),
        ],
      );
    }
    const external = created.filter((c) => c.compute === 'none');
    if (external.length > 0) {
      await db.query('INSERT INTO workspace_auth_tokens (workspace_id, token_hash) SELECT * FROM unnest($1::uuid[], $2::text[])', [
        external.map((c) => c.id),
        external.map(() => hashToken(newAuthToken())),
      ]);
    }
    await createMaterials(db, importId, created, orgEnv);
    return out;
  }

  /**
   * Schedules, env secrets and /configs files of the level's new workspaces, a statement per table
   * (a statement per workspace and entry cost ~1 ms each: 10 s for an org of 10,000 with env).
   */
  async function createMaterials(db: PoolClient, importId: string, created: Array<{ id: string; ws: FlatWorkspace }>, orgEnv: Record<string, string>): Promise<void> {
    const schedules = created.flatMap((c) => (c.ws.schedules ?? []).map((sch) => ({ id: c.id, ...sch })));
    if (schedules.length > 0) {
      await db.query('INSERT INTO workspace_schedules (workspace_id, cron, prompt, enabled) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::boolean[])', [
        schedules.map((s) => s.id),
        schedules.map((s) => s.cron),
        schedules.map((s) => s.prompt),
        schedules.map((s) => s.enabled ?? true),
      ]);
    }
    // Env layering (A7, see template-materials.ts): persona < root .env < files_dir/.env (file_env)
    // < defaults.env < workspace env; stored as encrypted workspace secrets.
    const env = created.flatMap((c) => Object.entries({ ...(c.ws.file_env ?? {}), ...orgEnv, ...(c.ws.env ?? {}) }).map(([name, value]) => ({ id: c.id, name, value })));
    if (env.length > 0) {
      await db.query('INSERT INTO workspace_secrets (workspace_id, name, value_enc) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING', [
        env.map((e) => e.id),
        env.map((e) => e.name),
        env.map((e) => box.seal(e.value)),
      ]);
    }
    // /configs (A6.2): the snapshot's files_dir and plugin files (one statement per distinct source
    // list: the workspaces of one files_dir share it), then an inline system_prompt on top.
    const bySources = new Map<string, { sources: string[]; ids: string[] }>();
    for (const c of created) {
      const sources = c.ws.file_sources ?? [];
      if (sources.length === 0) continue;
      const group = bySources.get(JSON.stringify(sources)) ?? { sources, ids: [] };
      group.ids.push(c.id);
      bySources.set(JSON.stringify(sources), group);
    }
    for (const group of bySources.values()) await store.copyImportFilesToWorkspaces(db, importId, group.ids, group.sources);
    const prompts = created.filter((c) => c.ws.system_prompt);
    if (prompts.length > 0) {
      await db.query(
        `INSERT INTO workspace_files (workspace_id, path, content) SELECT u.ws, 'system-prompt.md', u.content FROM unnest($1::uuid[], $2::bytea[]) AS u(ws, content)
         ON CONFLICT (workspace_id, path) DO UPDATE SET content = EXCLUDED.content`,
        [prompts.map((c) => c.id), prompts.map((c) => Buffer.from(c.ws.system_prompt as string, 'utf8'))],
      );
    }
  }


  return { createLevel };
}
