// Expands `!include` and `!external` into one plain tree before validation, and remembers which file
// every object came from so later errors can name it. Expansion copies values (a YAML alias becomes a
// copy), which keeps the result a tree and lets one budget bound the total work.
import { INLINE_FILE, type PathSegment, TemplateError, type TemplateErrorCode, formatPath } from './errors';
import { type ExternalResolver, type ResolvedExternal, contentAddress, parseExternalRef, redactSecrets } from './external';
import type { TemplateFileSource } from './file-source';
import { LIMITS } from './limits';
import { dirnameOf, resolveTemplatePath } from './paths';
import { isPlainObject } from './plain-object';
import { ExternalMarker, IncludeMarker, parseTemplateYaml } from './yaml-loader';

/** Inline (JSON) templates spell an include `{"!include": "path"}` and an external `{"!external": {...}}`. */
export const INLINE_INCLUDE_KEY = '!include';
export const INLINE_EXTERNAL_KEY = '!external';

export interface Origin {
  file: string;
  /** Set when the object came from an external subtree: the content address of its cache entry. */
  external?: string;
  /** The source the file was read from (absent for inline values). */
  source?: TemplateFileSource;
}

export interface ExpandedTree {
  value: unknown;
  origins: WeakMap<object, Origin>;
}

export interface ExpandOptions {
  allowedRepos: readonly string[];
  resolveExternal?: ExternalResolver;
}

interface Frame {
  source: TemplateFileSource;
  /** Distinguishes sources in the visited set: 'root' or 'ext:<content address>'. */
  key: string;
  external?: string;
}

interface Depths {
  includeDepth: number;
  externalDepth: number;
}

interface Context extends Depths {
  /** Absent for inline values, which have no base to resolve includes against. */
  frame?: Frame;
  file: string;
  dir: string;
  /** Identities of the files on the include chain that led here. */
  chain: ReadonlySet<string>;
  /** Recorded for every object and array expanded in this context. */
  origin: Origin;
}

export async function expandFromSource(source: TemplateFileSource, entry: string, options: ExpandOptions): Promise<ExpandedTree> {
  const expander = new Expander(options);
  const file = resolveTemplatePath(entry, '', { file: '', path: [], what: 'entry' });
  const value = await expander.loadFile({ source, key: 'root' }, file, null, [], { includeDepth: 0, externalDepth: 0 });
  return { value, origins: expander.origins };
}

export async function expandInline(value: unknown, options: ExpandOptions): Promise<ExpandedTree> {
  const expander = new Expander(options);
  const ctx: Context = { file: INLINE_FILE, dir: '', chain: new Set(), includeDepth: 0, externalDepth: 0, origin: { file: INLINE_FILE } };
  return { value: await expander.expand(value, ctx, [], 0), origins: expander.origins };
}

class Expander {
  readonly origins = new WeakMap<object, Origin>();
  private bytes = 0;
  private values = 0;

  constructor(private readonly options: ExpandOptions) {}

  /**
   * The expanded value, or a promise of it where a subtree needs a file or an external read. Synchronous
   * otherwise: an inline template has no includes, and awaiting each of its 10,000 workspaces' objects
   * cost a microtask turn and a promise apiece. Items are still expanded strictly in order (see fill), so
   * the budget trips at the same value either way.
   */
  expand(value: unknown, ctx: Context, path: PathSegment[], nesting: number): unknown {
    this.count(ctx, path, nesting);
    if (value instanceof IncludeMarker) return this.include(value.target, ctx, path);
    if (value instanceof ExternalMarker) return this.external(value.spec, ctx, path);
    if (isScalar(value)) return value;
    if (Array.isArray(value)) {
      const out: unknown[] = [];
      this.origins.set(out, ctx.origin);
      return fill(
        value.length,
        (i) => this.child(value[i], ctx, path, i, nesting + 1),
        (_, item) => out.push(item),
        () => out,
      );
    }
    if (isPlainObject(value)) {
      if (!ctx.frame) {
        if (Object.hasOwn(value, INLINE_INCLUDE_KEY)) return this.include(value[INLINE_INCLUDE_KEY], ctx, path);
        if (Object.hasOwn(value, INLINE_EXTERNAL_KEY)) return this.external(value[INLINE_EXTERNAL_KEY], ctx, path);
      }
      const keys = Object.keys(value);
      const entries: [string, unknown][] = [];
      return fill(
        keys.length,
        (i) => this.child(value[keys[i]], ctx, path, keys[i], nesting + 1),
        (i, item) => entries.push([keys[i], item]),
        () => {
          // fromEntries defines own properties, so a `__proto__` key stays a key and never sets a prototype.
          const out = Object.fromEntries(entries);
          this.origins.set(out, ctx.origin);
          return out;
        },
      );
    }
    throw new TemplateError('invalid_type', 'unsupported value type', ctx.file, formatPath(path));
  }

  /**
   * One element or property value. A scalar (most of a template's values) is counted and returned as it
   * is, with no path copied.
   */
  private child(value: unknown, ctx: Context, parent: PathSegment[], key: PathSegment, nesting: number): unknown {
    if (!isScalar(value)) return this.expand(value, ctx, [...parent, key], nesting);
    this.count(ctx, parent, nesting, key);
    return value;
  }

  /** Charges one value to the template's budget; the path (with `key`, for a scalar) is built only to report. */
  private count(ctx: Context, path: PathSegment[], nesting: number, key?: PathSegment): void {
    if (++this.values > LIMITS.maxValues) overBudget(ctx, path, key, 'template_too_large', 'the template has too many values');
    if (nesting > LIMITS.maxValueNesting) overBudget(ctx, path, key, 'nesting_too_deep', 'values are nested too deeply');
  }

  /** Reads, parses and expands `file` of `frame`; `includer` is null for the template's entry file. */
  async loadFile(frame: Frame, file: string, includer: Context | null, path: PathSegment[], depths: Depths): Promise<unknown> {
    const site = includer?.file ?? file;
    // Read failures are reported at the include site (or the entry file itself), where the author can fix
    // them, with our own fixed message rather than whatever the source said.
    const fail = (code: TemplateErrorCode, message: string): never => {
      throw new TemplateError(code, message, site, formatPath(path));
    };
    const rethrow = (err: unknown): never =>
      fail(err instanceof TemplateError ? err.code : 'file_not_found', (err instanceof TemplateError && SOURCE_MESSAGES[err.code]) || 'file could not be read');

    const identity = `${frame.key}:${frame.source.realPath ? await frame.source.realPath(file).catch(rethrow) : file}`;
    const chain = includer?.chain ?? new Set<string>();
    if (chain.has(identity)) fail('include_cycle', 'include cycle');
    // The visited set can be defeated (e.g. by symlinks on a source without realPath); the cap cannot.
    if (depths.includeDepth > LIMITS.maxIncludeDepth) fail('include_depth', 'includes are nested too deeply');

    const text: unknown = await frame.source.read(file).catch(rethrow);
    if (typeof text !== 'string') return rethrow(undefined);
    const size = Buffer.byteLength(text, 'utf8');
    if (size > LIMITS.maxFileBytes) fail('file_too_large', 'file is too large');
    this.bytes += size;
    if (this.bytes > LIMITS.maxTotalBytes) fail('template_too_large', 'the template files are too large in total');

    const ctx: Context = {
      ...depths,
      frame,
      file,
      dir: dirnameOf(file),
      chain: new Set(chain).add(identity),
      origin: { file, external: frame.external, source: frame.source },
    };
    return this.expand(parseTemplateYaml(text, { file, path }), ctx, path, path.length);
  }

  private async include(target: unknown, ctx: Context, path: PathSegment[]): Promise<unknown> {
    if (!ctx.frame) {
      throw new TemplateError('include_without_base', 'includes need a template directory; inline templates have no base to resolve them', ctx.file, formatPath(path));
    }
    const file = resolveTemplatePath(target, ctx.dir, { file: ctx.file, path, what: 'include' });
    return this.loadFile(ctx.frame, file, ctx, path, { includeDepth: ctx.includeDepth + 1, externalDepth: ctx.externalDepth });
  }

  private async external(spec: unknown, ctx: Context, path: PathSegment[]): Promise<unknown> {
    const fail = (code: TemplateErrorCode, message: string, detail?: string): never => {
      throw new TemplateError(code, message, ctx.file, formatPath(path), detail);
    };
    const ref = parseExternalRef(spec, this.options.allowedRepos, { file: ctx.file, path });
    const depths = { includeDepth: ctx.includeDepth, externalDepth: ctx.externalDepth + 1 };
    if (depths.externalDepth > LIMITS.maxExternalDepth) fail('external_depth', '!external subtrees are nested too deeply');
    const resolver = this.options.resolveExternal;
    if (!resolver) return fail('external_unsupported', '!external is not supported here');
    let resolved: ResolvedExternal;
    try {
      resolved = await resolver(ref);
    } catch (err) {
      return fail('external_failed', 'the !external subtree could not be fetched', redactSecrets(err instanceof Error ? err.message : String(err)));
    }
    if (typeof resolved?.source?.read !== 'function' || typeof resolved.entry !== 'string') {
      return fail('external_failed', 'the !external subtree could not be fetched', 'resolver returned an invalid result');
    }
    const address = contentAddress(ref);
    const entry = resolveTemplatePath(resolved.entry, '', { file: ctx.file, path, what: '!external entry' });
    return this.loadFile({ source: resolved.source, key: `ext:${address}`, external: address }, entry, ctx, path, depths);
  }
}

/**
 * Expands `n` items in order and then builds the container with `done`: synchronously until an item
 * answers with a promise, after which each later item starts only when the one before it is done.
 */
function fill(n: number, item: (i: number) => unknown, put: (i: number, value: unknown) => void, done: () => unknown): unknown {
  for (let i = 0; i < n; i++) {
    const value = item(i);
    if (value instanceof Promise) return fillAfter(i, value, n, item, put, done);
    put(i, value);
  }
  return done();
}

async function fillAfter(i: number, pending: Promise<unknown>, n: number, item: (i: number) => unknown, put: (i: number, value: unknown) => void, done: () => unknown): Promise<unknown> {
  put(i, await pending);
  for (let j = i + 1; j < n; j++) {
    const value = item(j);
    put(j, value instanceof Promise ? await value : value);
  }
  return done();
}

function overBudget(ctx: Context, path: PathSegment[], key: PathSegment | undefined, code: TemplateErrorCode, message: string): never {
  throw new TemplateError(code, message, ctx.file, formatPath(key === undefined ? path : [...path, key]));
}

function isScalar(value: unknown): value is null | string | boolean | number {
  return value === null || typeof value === 'string' || typeof value === 'boolean' || typeof value === 'number';
}

const SOURCE_MESSAGES: Partial<Record<TemplateErrorCode, string>> = {
  file_not_found: 'file not found',
  include_escape: 'path resolves outside the template root',
  file_too_large: 'file is too large',
  invalid_include_path: 'invalid include path',
};
