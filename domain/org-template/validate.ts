// Turns the expanded tree into a typed OrgTemplate. Errors carry the file each offending object came
// from (via the origins recorded during expansion) and a tree path; messages are fixed sentences.
import { z } from 'zod';
import { normalizeRuntime } from '../vocabulary';
import { type PathSegment, TemplateError, type TemplateErrorCode, type TemplateWarning, formatPath } from './errors';
import { UNAVAILABLE_VARIABLE, expandVariables } from './expand-vars';
import type { Origin } from './includes';
import { LIMITS } from './limits';
import { CONTROL_CHARS, resolveTemplatePath } from './paths';
import { isPlainObject } from './plain-object';
import { OrgSchema, type OrgTemplate, type TemplateWorkspace, WorkspaceSchema, type WorkspaceSettings, WorkspaceSettingsSchema } from './schema';

export interface ValidateOptions {
  origins: WeakMap<object, Origin>;
  /** For `${VAR}` in workspace_dir. */
  env: Readonly<Record<string, string>>;
  /** File to blame when no origin is known (the entry file, or `<inline>`). */
  rootFile: string;
}

export async function validateTemplate(value: unknown, options: ValidateOptions): Promise<OrgTemplate> {
  return new Validator(options).template(value);
}

class Validator {
  private readonly warnings: TemplateWarning[] = [];
  private workspaceCount = 0;

  constructor(private readonly options: ValidateOptions) {}

  async template(value: unknown): Promise<OrgTemplate> {
    if (!isPlainObject(value)) throw this.error('invalid_type', 'the template must be a mapping', value, []);
    const org = this.parse(OrgSchema, value, []);
    const defaults = isPlainObject(value.defaults) ? value.defaults : {};
    return {
      name: org.name,
      ...(org.org_key != null ? { org_key: org.org_key } : {}),
      ...(org.description != null ? { description: org.description } : {}),
      defaults: org.defaults ? await this.settings(org.defaults, defaults, ['defaults']) : {},
      required_env: org.required_env ?? [],
      recommended_env: org.recommended_env ?? [],
      workspaces: await this.workspaceList(value.workspaces, ['workspaces'], 1),
      warnings: this.warnings,
    };
  }

  private async workspaceList(raw: unknown, path: PathSegment[], depth: number): Promise<TemplateWorkspace[]> {
    if (!Array.isArray(raw)) return []; // absent or null; the object schema already rejected other types
    const out: TemplateWorkspace[] = [];
    const siblingNames = new Set<string>();
    for (let i = 0; i < raw.length; i++) {
      const item: unknown = raw[i];
      const at = [...path, i];
      if (++this.workspaceCount > LIMITS.maxWorkspaces) throw this.error('too_many_workspaces', `a template may hold at most ${LIMITS.maxWorkspaces} workspaces`, raw, path, [i]);
      if (depth > LIMITS.maxTreeDepth) throw this.error('tree_too_deep', `the workspace tree may be at most ${LIMITS.maxTreeDepth} levels deep`, raw, path, [i]);
      if (!isPlainObject(item)) throw this.error('invalid_type', 'a workspace must be a mapping', raw, path, [i]);
      const { name, children, ...settings } = this.parse(WorkspaceSchema, item, at);
      // Names identify workspaces within their parent (merge dedupes on them, flatten keys on them).
      if (siblingNames.has(name)) throw this.error('duplicate_name', 'two sibling workspaces have the same name', item, at, ['name']);
      siblingNames.add(name);
      out.push({
        name,
        ...(await this.settings(settings, item, at)),
        children: children ? await this.workspaceList(item.children, [...at, 'children'], depth + 1) : [],
      });
    }
    return out;
  }

  private async settings(parsed: z.output<typeof WorkspaceSettingsSchema>, raw: Record<string, unknown>, path: PathSegment[]): Promise<WorkspaceSettings> {
    const { runtime, files_dir, workspace_dir, schedules, ...rest } = dropNulls(parsed);
    const out: WorkspaceSettings = rest;
    const origin = this.options.origins.get(raw);
    const file = origin?.file ?? this.options.rootFile;
    if (runtime !== undefined) {
      out.runtime = normalizeRuntime(runtime);
      if (out.runtime !== runtime) this.warn(file, [...path, 'runtime'], `unknown runtime; falls back to ${out.runtime}`);
    }
    if (files_dir !== undefined) {
      const at = [...path, 'files_dir'];
      out.files_dir = resolveTemplatePath(files_dir, '', { file, path: at, what: 'files_dir' });
      if (out.files_dir === '') throw new TemplateError('invalid_value', 'files_dir must name a directory inside the template root', file, formatPath(at));
      await this.checkRealPath(origin, out.files_dir, file, at);
      if (origin?.external) out.files_dir_external = origin.external;
    }
    if (workspace_dir !== undefined) {
      const expanded = expandVariables(workspace_dir, this.options.env);
      const at = formatPath([...path, 'workspace_dir']);
      // One answer for "not set" and "not allowed": it must not tell a template author what is set.
      if (!expanded.ok && expanded.reason === 'unset') throw new TemplateError('unset_variable', UNAVAILABLE_VARIABLE, file, at);
      if (!expanded.ok || CONTROL_CHARS.test(expanded.value)) throw new TemplateError('invalid_value', 'workspace_dir is not a valid path', file, at);
      out.workspace_dir = expanded.value;
    }
    if (schedules !== undefined) out.schedules = schedules.map((s) => ({ cron: s.cron, prompt: s.prompt, enabled: s.enabled ?? true }));
    return out;
  }

  /** On disk, files_dir must not reach outside the root through a symlink; a missing dir is the copier's concern. */
  private async checkRealPath(origin: Origin | undefined, rel: string, file: string, at: PathSegment[]): Promise<void> {
    const realPath = origin?.source?.realPath;
    if (!realPath) return;
    try {
      await realPath.call(origin.source, rel);
    } catch (err) {
      if (err instanceof TemplateError && err.code === 'include_escape') {
        throw new TemplateError('include_escape', 'files_dir resolves outside the template root', file, formatPath(at));
      }
    }
  }

  private parse<S extends z.ZodType>(schema: S, value: Record<string, unknown>, path: PathSegment[]): z.output<S> {
    const result = schema.safeParse(value);
    if (!result.success) throw this.issueError(result.error.issues[0], value, path);
    this.reportUnknownKeys(schema, value, path, this.options.origins.get(value)?.file ?? this.options.rootFile);
    return result.data;
  }

  private issueError(issue: z.core.$ZodIssue | undefined, root: Record<string, unknown>, base: PathSegment[]): TemplateError {
    const rel = (issue?.path ?? []).filter((p): p is string | number => typeof p !== 'symbol');
    const present = valueAt(root, rel) != null;
    const { code, message } = describeIssue(issue, present);
    return this.error(code, message, root, base, rel);
  }

  /** `rel` is walked from `root` to blame the file of the innermost object with a known origin. */
  private error(code: TemplateErrorCode, message: string, root: unknown, base: PathSegment[], rel: PathSegment[] = []): TemplateError {
    let file = this.options.origins.get(root as object)?.file ?? this.options.rootFile;
    let cur: unknown = root;
    for (const seg of rel) {
      if (cur === null || typeof cur !== 'object') break;
      cur = (cur as Record<PathSegment, unknown>)[seg];
      const origin = cur !== null && typeof cur === 'object' ? this.options.origins.get(cur) : undefined;
      if (origin) file = origin.file;
    }
    return new TemplateError(code, message, file, formatPath([...base, ...rel]));
  }

  private reportUnknownKeys(schema: z.ZodType, value: unknown, path: PathSegment[], file: string): void {
    const s = structureOf(schema);
    if (s.kind === 'object' && isPlainObject(value)) {
      const here = this.options.origins.get(value)?.file ?? file;
      for (const key of Object.keys(value)) {
        if (!Object.hasOwn(s.shape, key)) this.warn(here, path, /^[A-Za-z_][A-Za-z0-9_-]{0,39}$/.test(key) ? `unknown key "${key}" ignored` : 'unknown key ignored');
        else if (s.nested.has(key)) this.reportUnknownKeys(s.shape[key], value[key], [...path, key], here);
      }
    } else if (s.kind === 'array' && Array.isArray(value) && s.nested) {
      const element = s.element;
      value.forEach((item, i) => this.reportUnknownKeys(element, item, [...path, i], file));
    } else if (s.kind === 'union' && isPlainObject(value)) {
      this.reportUnknownKeys(s.objectOption, value, path, file);
    }
  }

  private warn(file: string, path: PathSegment[], message: string): void {
    this.warnings.push({ file, path: formatPath(path), message });
  }
}

function unwrap(schema: z.ZodType): z.ZodType {
  let s: z.ZodType = schema;
  for (;;) {
    if (s instanceof z.ZodOptional || s instanceof z.ZodNullable || s instanceof z.ZodDefault) s = s.unwrap() as z.ZodType;
    else if (s instanceof z.ZodPipe) s = s.in as z.ZodType;
    else return s;
  }
}

/** What reportUnknownKeys needs to know of a schema: where objects (whose keys it checks) can sit in it. */
type Structure =
  | { kind: 'object'; shape: Record<string, z.ZodType>; nested: ReadonlySet<string> }
  | { kind: 'array'; element: z.ZodType; nested: boolean }
  | { kind: 'union'; objectOption: z.ZodType }
  | { kind: 'leaf' };

/**
 * Per schema, computed once: zod's `instanceof` is a trait lookup, not a prototype check, and walking a
 * 10,000-workspace template asked it a few hundred thousand times (a quarter of the parse). `nested`
 * names the fields (or says whether the elements) can hold an object to check, so leaves are not walked.
 */
const structures = new WeakMap<z.ZodType, Structure>();
function structureOf(schema: z.ZodType): Structure {
  let known = structures.get(schema);
  if (!known) {
    known = describeStructure(unwrap(schema));
    structures.set(schema, known);
  }
  return known;
}

function describeStructure(s: z.ZodType): Structure {
  if (s instanceof z.ZodObject) {
    const shape = s.shape as Record<string, z.ZodType>;
    return { kind: 'object', shape, nested: new Set(Object.keys(shape).filter((key) => mayHoldObject(shape[key]))) };
  }
  if (s instanceof z.ZodArray) return { kind: 'array', element: s.element as z.ZodType, nested: mayHoldObject(s.element as z.ZodType) };
  if (s instanceof z.ZodUnion) {
    const objectOption = (s.options as z.ZodType[]).find((o) => unwrap(o) instanceof z.ZodObject);
    if (objectOption) return { kind: 'union', objectOption };
  }
  return { kind: 'leaf' };
}

function mayHoldObject(schema: z.ZodType): boolean {
  const s = structureOf(schema);
  return s.kind === 'array' ? s.nested : s.kind !== 'leaf';
}

const TYPE_LABELS: Record<string, string> = {
  object: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

function describeIssue(issue: z.core.$ZodIssue | undefined, present: boolean): { code: TemplateErrorCode; message: string } {
  if (!issue) return { code: 'invalid_value', message: 'is invalid' };
  switch (issue.code) {
    case 'invalid_type':
      return present ? { code: 'invalid_type', message: `must be ${TYPE_LABELS[issue.expected] ?? 'of another type'}` } : { code: 'missing_field', message: 'is required' };
    case 'too_small':
      return { code: 'invalid_value', message: issue.origin === 'array' ? 'has too few items' : issue.origin === 'string' ? 'must not be empty' : 'is too small' };
    case 'too_big':
      return { code: 'invalid_value', message: issue.origin === 'array' ? 'has too many items' : issue.origin === 'string' ? 'is too long' : 'is too large' };
    case 'invalid_format':
      return { code: 'invalid_value', message: 'has an invalid format' };
    case 'invalid_value':
      // The allowed values come from our schema, never from the input.
      return { code: 'invalid_value', message: `must be one of: ${issue.values.map(String).join(', ')}` };
    case 'invalid_key':
      return { code: 'invalid_value', message: 'has an invalid key' };
    case 'invalid_union':
    case 'custom':
      // Both messages are set in schema.ts.
      return { code: 'invalid_value', message: issue.message };
    default:
      return { code: 'invalid_value', message: 'is invalid' };
  }
}

function valueAt(root: unknown, path: readonly PathSegment[]): unknown {
  let cur = root;
  for (const seg of path) {
    if (cur === null || typeof cur !== 'object' || !Object.hasOwn(cur, seg)) return undefined;
    cur = (cur as Record<PathSegment, unknown>)[seg];
  }
  return cur;
}

type PresentFields<T> = { [K in keyof T]?: Exclude<T[K], null | undefined> };

function dropNulls<T extends object>(o: T): PresentFields<T> {
  const out: PresentFields<T> = {};
  for (const key of Object.keys(o) as (keyof T)[]) {
    const v = o[key];
    if (v !== null && v !== undefined) out[key] = v as Exclude<T[keyof T], null | undefined>;
  }
  return out;
}
