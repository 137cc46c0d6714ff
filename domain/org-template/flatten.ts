// The workspace tree as the import loop consumes it: parent-first, defaults applied, spawn decided.
import { DEFAULT_RUNTIME, type Runtime } from '../vocabulary';
import type { OrgTemplate, TemplateWorkspace, WorkspaceSettings } from './schema';

export interface FlatWorkspace extends Omit<WorkspaceSettings, 'runtime' | 'spawning'>, Pick<TemplateWorkspace, 'file_env' | 'file_sources'> {
  /** Names from the root joined with `/` (`%` and `/` inside a name escaped as %25 / %2F). Unique. */
  key: string;
  parentKey: string | null;
  /** 0 for the roots. */
  depth: number;
  name: string;
  runtime: Runtime;
  /** The workspace's own (or inherited default) setting; unset means true. */
  spawning: boolean;
  /** False when this workspace or any ancestor has spawning: false; such workspaces are skipped. */
  spawn: boolean;
}

export function flattenTemplate(template: OrgTemplate): FlatWorkspace[] {
  const out: FlatWorkspace[] = [];
  const visit = (ws: TemplateWorkspace, parent: FlatWorkspace | null) => {
    const { name, children } = ws;
    const merged = applyDefaults(ownSettings(ws), template.defaults);
    const spawning = merged.spawning ?? true;
    const key = parent ? `${parent.key}/${keySegment(name)}` : keySegment(name);
    // The fixed fields first, the settings spread after, then the two a setting may leave undefined set
    // again: V8 gives objects built this way one shared shape, where a spread followed by new fields gave
    // each workspace its own (10,000 of them: flatten took 6x as long, and every later read of them paid).
    // A setting never names a fixed field (the schema strips unknown keys and has none of these).
    const flat: FlatWorkspace = {
      key,
      parentKey: parent?.key ?? null,
      depth: parent ? parent.depth + 1 : 0,
      name,
      spawning,
      spawn: spawning && (parent?.spawn ?? true),
      ...merged,
      runtime: merged.runtime ?? DEFAULT_RUNTIME,
    };
    flat.spawning = spawning;
    out.push(flat);
    for (const child of children) visit(child, flat);
  };
  for (const root of template.workspaces) visit(root, null);
  return out;
}

export function countWorkspaces(template: OrgTemplate): number {
  const count = (list: TemplateWorkspace[]): number => list.reduce((n, ws) => n + 1 + count(ws.children), 0);
  return count(template.workspaces);
}

/** A field the workspace sets replaces the default wholesale (lists and maps are not merged). */
function applyDefaults(own: WorkspaceSettings, defaults: WorkspaceSettings): WorkspaceSettings {
  const merged: WorkspaceSettings = { ...defaults, ...own };
  // files_dir and the external subtree it is relative to travel together: a workspace's own root-relative
  // files_dir must not pick up the default's external address.
  if (own.files_dir !== undefined && own.files_dir_external === undefined) delete merged.files_dir_external;
  return merged;
}

/**
 * The settings a workspace sets itself (not its name and children; an undefined field sets nothing). A
 * loop into a plain object, not a rest pattern or Object.entries: this runs once per workspace (10,000
 * in one import). Its keys are the schema's (zod strips unknown keys), so none is `__proto__`.
 */
function ownSettings(ws: TemplateWorkspace): WorkspaceSettings {
  const out: Record<string, unknown> = {};
  for (const key of Object.keys(ws)) {
    if (key === 'name' || key === 'children') continue;
    const value = (ws as unknown as Record<string, unknown>)[key];
    if (value !== undefined) out[key] = value;
  }
  return out as WorkspaceSettings;
}

function keySegment(name: string): string {
  if (!name.includes('%') && !name.includes('/')) return name;
  return name.replace(/%/g, '%25').replace(/\//g, '%2F');
}

/**
 * Canvas positions (A13.2): a template's `canvas` is relative to the parent's position (absolute for a
 * root); a workspace without one sits at its parent's. The layouts store absolute positions.
 */
export function absolutePositions(flat: FlatWorkspace[]): Map<string, { x: number; y: number }> {
  const out = new Map<string, { x: number; y: number }>();
  for (const ws of flat) {
    // flattenTemplate lists parents before their children.
    const base = (ws.parentKey && out.get(ws.parentKey)) || { x: 0, y: 0 };
    out.set(ws.key, { x: base.x + (ws.canvas?.x ?? 0), y: base.y + (ws.canvas?.y ?? 0) });
  }
  return out;
}
