// Parses one template file's YAML into plain values. `!include` and `!external` become marker objects
// here and are expanded later (includes.ts), so parsing stays synchronous and I/O-free.
import { type CollectionTag, Document, type ScalarTag, parseDocument, visit } from 'yaml';
import { TemplateError, type PathSegment, formatPath } from './errors';
import { LIMITS } from './limits';

/** `!include path`: replaced by the parsed content of `path`, relative to the including file. */
export class IncludeMarker {
  constructor(readonly target: unknown) {}
}

/** `!external {repo, ref, path}`: replaced by a subtree fetched from git through the resolver. */
export class ExternalMarker {
  constructor(readonly spec: unknown) {}
}

const CUSTOM_TAGS: (ScalarTag | CollectionTag)[] = [
  { tag: '!include', resolve: (value: string) => new IncludeMarker(value) },
  {
    tag: '!external',
    collection: 'map',
    resolve: (map) => new ExternalMarker(map.toJSON()),
  },
];

export interface YamlLocation {
  file: string;
  /** Where the file's content lands in the resolved tree. */
  path: readonly PathSegment[];
}

export function parseTemplateYaml(text: string, at: YamlLocation): unknown {
  const fail = (code: 'yaml_invalid' | 'yaml_alias_limit', message: string): never => {
    throw new TemplateError(code, message, at.file, formatPath(at.path));
  };
  let doc: Document.Parsed;
  try {
    doc = parseDocument(text, {
      version: '1.2',
      schema: 'core',
      customTags: CUSTOM_TAGS,
      uniqueKeys: true,
      merge: false,
      stringKeys: true,
      // Explicit `!!binary`, `!!set`, `!!timestamp`... would produce Buffers, Sets and Dates.
      resolveKnownTags: false,
    });
  } catch {
    // The parser can throw (e.g. RangeError on pathological nesting) instead of reporting.
    return fail('yaml_invalid', 'the file is not valid YAML');
  }
  // Warnings count as errors: the notable one is an unknown tag, which yaml would otherwise turn into a
  // plain string, so a typo like `!inclde x` would silently become the text "x".
  const problem = doc.errors[0] ?? doc.warnings[0];
  if (problem) {
    const line = problem.linePos?.[0]?.line;
    return fail('yaml_invalid', line ? `invalid YAML at line ${line}` : 'the file is not valid YAML');
  }
  let aliases = 0;
  visit(doc, {
    Alias() {
      aliases += 1;
      return aliases > LIMITS.maxAliasNodes ? visit.BREAK : undefined;
    },
  });
  if (aliases > LIMITS.maxAliasNodes) fail('yaml_alias_limit', 'the file uses too many YAML aliases');
  try {
    return doc.toJS({ maxAliasCount: LIMITS.maxAliasCount });
  } catch (err) {
    if (err instanceof ReferenceError && /excessive alias/i.test(err.message)) {
      return fail('yaml_alias_limit', 'YAML alias expansion exceeds the limit');
    }
    return fail('yaml_invalid', 'the file is not valid YAML');
  }
}
