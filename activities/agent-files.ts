// What an agent finds in /configs (SPEC-ADDENDUM A6.2-3): the generated config.yaml first, then the
// workspace's files on top (its template's files_dir and plugins, or what PUT /workspaces/:id/files
// stored), so a template may ship its own config.yaml. The token is written separately, last.
import { renderConfigYaml } from '../domain/agent-config';
import type { WorkspaceRow, WorkspaceStore } from './workspace-store';

const SKILL = /^skills\/([^/]+)\/SKILL\.md$/;

export async function agentConfigFiles(store: Pick<WorkspaceStore, 'workspaceFiles'>, ws: Pick<WorkspaceRow, 'id' | 'name'>): Promise<Record<string, Buffer>> {
  const files = await store.workspaceFiles(ws.id);
  const promptFiles = files.map((f) => f.path).filter((p) => !p.includes('/') && p.endsWith('.md'));
  const skills = [...new Set(files.map((f) => SKILL.exec(f.path)?.[1]).filter((n): n is string => !!n))];
  const out: Record<string, Buffer> = { 'config.yaml': Buffer.from(renderConfigYaml({ name: ws.name, promptFiles, skills }), 'utf8') };
  for (const f of files) out[f.path] = f.content;
  return out;
}
