// What an import takes from the template's directory besides org.yaml, read once when the import is
// accepted and kept with it (the snapshot): the files each workspace's /configs gets (its files_dir and
// plugins, A6.2) and the env of the `.env` files and persona (A7). A retry or a rebuild months later
// uses these, whatever happened to the directory since.
//
// Env layering, later wins: persona env file < `<root>/.env` < `<root>/<files_dir>/.env` < the
// template's `defaults.env` < the workspace's `env` (the YAML is the template author's explicit word;
// the files are defaults beside it). Plugins: `defaults.plugins` ∪ the workspace's, a `!name` or
// `-name` entry opting out of an inherited one, a missing plugin directory skipped.
import { promises as fs } from 'node:fs';
import * as nodePath from 'node:path';
import { parseDotenv, personaKey } from '../domain/agent-config';
import { TemplateError, type OrgTemplate, type TemplateWorkspace } from '../domain/org-template';
import { readTemplateFiles, TEMPLATE_FILE_LIMITS, type TemplateFile } from './template-files';

export interface SnapshotFile extends TemplateFile {
  source: string;
}

/** All template files one import keeps (every files_dir and plugin together). */
export const MAX_SNAPSHOT_FILE_BYTES = 50 * 1024 * 1024;

export const filesDirSource = (dir: string) => `files_dir:${dir}`;
export const pluginSource = (name: string) => `plugin:${name}`;

/** Plugin names are one path segment: anything else cannot name a directory under plugins/. */
const PLUGIN_NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$/;

/** A small text file (a `.env`), or '' when it is missing or not a regular file under `root`. */
async function readSmallFile(root: string, relPath: string): Promise<string> {
  try {
    const rootReal = await fs.realpath(root);
    const real = await fs.realpath(nodePath.join(rootReal, relPath));
    if (real !== rootReal && !real.startsWith(rootReal + nodePath.sep)) return '';
    const stat = await fs.stat(real);
    if (!stat.isFile() || stat.size > TEMPLATE_FILE_LIMITS.maxFileBytes) return '';
    return await fs.readFile(real, 'utf8');
  } catch {
    return '';
  }
}

function pluginsOf(own: string[] | undefined, inherited: string[] | undefined): string[] {
  const out = new Set(inherited ?? []);
  for (const entry of own ?? []) {
    if (entry.startsWith('!') || entry.startsWith('-')) out.delete(entry.slice(1));
    else out.add(entry);
  }
  return [...out].filter((name) => PLUGIN_NAME.test(name)).sort();
}

/**
 * Sets `file_env` and `file_sources` on every workspace of the template and returns the files of the
 * sources they name. `root` is the template directory (null for an inline template: no files, but a
 * persona still applies); `personaRoot` is where persona env files live.
 */
export async function gatherTemplateMaterials(
  template: OrgTemplate,
  root: string | null,
  personaRoot: string,
  /** Content address of each !external subtree → its checkout on this host. */
  externalRoots: ReadonlyMap<string, string> = new Map(),
): Promise<SnapshotFile[]> {
  const files = new Map<string, SnapshotFile[]>();
  const dirEnv = new Map<string, Record<string, string>>();
  const rootEnv = root ? parseDotenv(await readSmallFile(root, '.env')) : {};

  async function envOf(filesRoot: string | null, filesDir: string | undefined): Promise<Record<string, string>> {
    const key = `${filesRoot ?? ''}\0${filesDir ?? ''}`;
    const known = dirEnv.get(key);
    if (known) return known;
    const persona = personaKey(filesDir);
    const personaEnv = persona ? parseDotenv(await readSmallFile(personaRoot, nodePath.join(persona, 'env'))) : {};
    const filesEnv = filesRoot && filesDir ? parseDotenv(await readSmallFile(filesRoot, nodePath.join(filesDir, '.env'))) : {};
    const env = { ...personaEnv, ...rootEnv, ...filesEnv };
    dirEnv.set(key, env);
    return env;
  }

  async function load(source: string, read: () => Promise<TemplateFile[]>): Promise<void> {
    if (files.has(source)) return;
    files.set(source, (await read()).map((f) => ({ ...f, source })));
  }

  const defaults = template.defaults;
  const visit = async (ws: TemplateWorkspace): Promise<void> => {
    // files_dir comes with its external subtree or not at all (flatten.ts applies the same rule).
    const ownDir = ws.files_dir !== undefined;
    const filesDir = ownDir ? ws.files_dir : defaults.files_dir;
    const external = ownDir ? ws.files_dir_external : defaults.files_dir_external;
    // A files_dir inside an !external subtree is relative to that subtree's checkout.
    const filesRoot = external ? (externalRoots.get(external) ?? null) : root;
    const sources: string[] = [];
    if (filesRoot && filesDir) {
      const source = filesDirSource(external ? `${external}/${filesDir}` : filesDir);
      sources.push(source);
      await load(source, () => readTemplateFiles(filesRoot, filesDir));
    }
    if (root) {
      for (const name of pluginsOf(ws.plugins, defaults.plugins)) {
        sources.push(pluginSource(name));
        await load(pluginSource(name), () => readTemplateFiles(root, `plugins/${name}`, `plugins/${name}`));
      }
    }
    ws.file_sources = sources;
    const env = await envOf(filesRoot, filesDir);
    if (Object.keys(env).length > 0) ws.file_env = env;
    for (const child of ws.children) await visit(child);
  };
  for (const ws of template.workspaces) await visit(ws);
  const all = [...files.values()].flat();
  if (all.reduce((n, f) => n + f.content.length, 0) > MAX_SNAPSHOT_FILE_BYTES) {
    throw new TemplateError('template_too_large', 'the files of this template are too large', '', '');
  }
  return all;
}
