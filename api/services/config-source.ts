// Where a restart takes /configs from (SPEC-ADDENDUM A6.4), first match wins:
//   1. `template: "<dir>"`: that directory under TEMPLATES_ROOT (404 when it is not one);
//   2. `apply_template: true`: the directory matched by the workspace's name (lowercased, spaces → `-`,
//      else a directory, not `ws-*`, whose config.yaml `name:` equals the name case-insensitively),
//      else `<runtime>-default`;
//   3. `rebuild_config` or `reset`: the workspace's stored files (its template snapshot, or what
//      PUT /workspaces/:id/files stored), written into a new config volume;
//   4. otherwise the existing volume, with the user's edits.
// 1 and 2 replace the stored files with the directory's, so later rebuilds keep them.
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { parse } from 'yaml';
import { readTemplateFiles, type TemplateFile } from '../../activities/template-files';
import { DomainError } from '../../domain/errors';

export type ConfigSource = { kind: 'directory'; dir: string; files: TemplateFile[] } | { kind: 'stored' } | { kind: 'volume' };

/** One directory name under the templates root: no path, no dots in front. */
const DIR_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

const nameSlug = (name: string) => name.toLowerCase().trim().replace(/\s+/g, '-');

async function isDirectory(path: string): Promise<boolean> {
  return fs.stat(path).then((s) => s.isDirectory(), () => false);
}

async function configName(dir: string): Promise<string | null> {
  try {
    const stat = await fs.stat(nodePath.join(dir, 'config.yaml'));
    if (!stat.isFile() || stat.size > 64 * 1024) return null;
    const doc = parse(await fs.readFile(nodePath.join(dir, 'config.yaml'), 'utf8')) as { name?: unknown } | null;
    return typeof doc?.name === 'string' ? doc.name : null;
  } catch {
    return null;
  }
}

async function matchByName(root: string, name: string): Promise<string | null> {
  const slug = nameSlug(name);
  if (DIR_NAME.test(slug) && (await isDirectory(nodePath.join(root, slug)))) return slug;
  const entries = await fs.readdir(root, { withFileTypes: true }).catch(() => []);
  for (const entry of entries.sort((a, b) => a.name.localeCompare(b.name))) {
    if (!entry.isDirectory() || entry.name.startsWith('ws-') || !DIR_NAME.test(entry.name)) continue;
    if ((await configName(nodePath.join(root, entry.name)))?.toLowerCase() === name.toLowerCase()) return entry.name;
  }
  return null;
}

export async function resolveConfigSource(
  templatesRoot: string,
  ws: { name: string; runtime: string },
  body: { template?: string; apply_template?: boolean; rebuild_config?: boolean; reset?: boolean },
): Promise<ConfigSource> {
  let dir: string | null = null;
  if (body.template !== undefined) {
    if (!DIR_NAME.test(body.template) || !(await isDirectory(nodePath.join(templatesRoot, body.template)))) {
      throw new DomainError('TEMPLATE_NOT_FOUND', 404, 'template directory not found');
    }
    dir = body.template;
  } else if (body.apply_template) {
    dir = (await matchByName(templatesRoot, ws.name)) ?? `${nameSlug(ws.runtime)}-default`;
    if (!DIR_NAME.test(dir) || !(await isDirectory(nodePath.join(templatesRoot, dir)))) {
      throw new DomainError('TEMPLATE_NOT_FOUND', 404, 'no template directory matches this workspace');
    }
  }
  // readTemplateFiles confines every entry to the root after symlink evaluation.
  if (dir !== null) return { kind: 'directory', dir, files: await readTemplateFiles(templatesRoot, dir) };
  return body.rebuild_config || body.reset ? { kind: 'stored' } : { kind: 'volume' };
}
