// F6 bad input: a generated, seeded corpus of malformed requests and org.yaml trees against the real API.
// Every answer must be a 4xx with a JSON `{error, code}` body, never a 5xx, never a 2xx, never an echo of
// the case's marker (each case carries a unique `ZZMARK<n>ZZ` in the attacker-controlled part) and never
// a stack trace; afterwards the server still answers /healthz and no rows were created.
//
// The corpus is checked against the project's own contracts before it is sent (the API's zod schemas,
// the org-template parser) so that no case is accidentally valid: a valid case would create rows and
// start workflows. As a second net every body that names a parent carries an id that does not exist and
// every template requires an env var no test sets, so anything the API wrongly accepts answers 404/412,
// not 202.
//
// Inputs that exposed defects (now fixed) run as their own groups at the end, as regression cases.
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { IDEMPOTENCY_KEY_PATTERN } from '../../api/services/idempotency';
import {
  activityQuery, bootstrapBody, budgetBody, createWorkspaceBody, heartbeatBody, listWorkspacesQuery, patchWorkspaceBody, registerBody, secretBody, secretWriteBody, secretParams,
  globalSecretParams, deleteQuery, tokenListQuery, tokenParams,
} from '../../api/schemas';
import { loadConfig } from '../../config';
import { diskFileSource, parseOrgTemplate, TemplateError } from '../../domain/org-template';
import { ADMIN_TOKEN, startPlatform, type Platform } from './support/platform';
import { seededRandom } from '../support/seeded-random';

jest.setTimeout(110_000);

// ---------------------------------------------------------------------------------------------------
// Deterministic randomness

const SEED = 0xf6f6_2026;

const rng = seededRandom(SEED);
const randInt = (n: number): number => Math.floor(rng() * n);
const pick = <T>(xs: readonly T[]): T => xs[randInt(xs.length)];

// ---------------------------------------------------------------------------------------------------
// Case model

type Method = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

interface CaseSpec {
  method: Method;
  path: string;
  /** Raw body; strings are sent as UTF-8, bytes as they are. */
  body?: string | Uint8Array;
  /** Send the body as a chunked stream (no content-length). */
  chunked?: boolean;
  /** undefined: application/json when there is a body; null: no content-type header at all. */
  contentType?: string | null;
  /** Full Authorization header; undefined: the admin bearer token; null: no header. */
  auth?: string | null;
  /** Further request headers (e.g. Idempotency-Key). */
  headers?: Record<string, string>;
  expect: readonly number[];
}

interface Case extends CaseSpec {
  id: number;
  marker: string;
  category: string;
}

interface Answer {
  status: number;
  text: string;
  error?: string;
}

/** Never present in any workspace or import: bodies that name a parent get a 404 if validation lets them through. */
const SAFE_PARENT = '7f3c9a2e-5d1b-4e0f-8a6c-00000000f6f6';
const UNKNOWN_ID = '3b9f6a1c-2e4d-4c8b-9f0a-0000000000f6';
/** No test sets this global secret: a template the parser wrongly accepts is stopped by the preflight (412). */
const SAFETY_ENV = 'F6_SAFETY_NET_NEVER_SET';

const enc = encodeURIComponent;
const j = (v: unknown): string => JSON.stringify(v);

class Corpus {
  readonly cases: Case[] = [];
  private seq = 0;
  /** Generated inputs that turned out to be valid under the contract (and were therefore not sent). */
  skippedValid = 0;

  constructor(private readonly prefix: string) {}

  /** A fresh case id and its marker (ids of skipped inputs are not reused). */
  take(): { id: number; marker: string } {
    const id = ++this.seq;
    return { id, marker: `${this.prefix}${id}ZZ` };
  }

  push(category: string, at: { id: number; marker: string }, spec: CaseSpec): void {
    this.cases.push({ ...spec, ...at, category });
  }

  add(category: string, make: (m: string) => CaseSpec | null): void {
    const at = this.take();
    const spec = make(at.marker);
    if (spec) this.push(category, at, spec);
    else this.skippedValid++;
  }

  async addAsync(category: string, make: (m: string) => Promise<CaseSpec | null>): Promise<void> {
    const at = this.take();
    const spec = await make(at.marker);
    if (spec) this.push(category, at, spec);
    else this.skippedValid++;
  }
}

// ---------------------------------------------------------------------------------------------------
// Contract oracles (is this input really invalid?)

function parseJsonLikeServer(text: string): { ok: true; value: unknown } | { ok: false } {
  try {
    // secure-json-parse strips a BOM and refuses __proto__ (both like the server).
    const stripped = text.charCodeAt(0) === 0xfeff ? text.slice(1) : text;
    if (/"__proto__"\s*:/.test(stripped)) return { ok: false };
    return { ok: true, value: JSON.parse(stripped) as unknown };
  } catch {
    return { ok: false };
  }
}

const workspaceBodyInvalid = (text: string): boolean => {
  const parsed = parseJsonLikeServer(text);
  return !parsed.ok || !createWorkspaceBody.safeParse(parsed.value).success;
};

/** The parser's rejection of a template, or null when it accepts it. */
async function templateFailure(run: () => Promise<unknown>): Promise<TemplateError | null> {
  try {
    await run();
    return null;
  } catch (err) {
    // The oracle has no external resolver; the API may have one, so a case must not rely on that.
    if (err instanceof TemplateError && err.code === 'external_unsupported') throw new Error('corpus case is only invalid for lack of an !external resolver');
    if (err instanceof TemplateError) return err;
    throw err;
  }
}

// ---------------------------------------------------------------------------------------------------
// Sending and checking

const STACK_PATTERNS: readonly RegExp[] = [
  /\bat [^\n]*[\w.-]+\.(?:[cm]?js|ts):\d+/,
  /node_modules/,
  /\/work\/main\//,
  /\(node:internal/,
  /\b(?:TypeError|RangeError|ReferenceError|SyntaxError): /,
  /root:x:0:0/, // /etc/passwd content
];

function authHeader(spec: CaseSpec): string | null {
  return spec.auth === undefined ? `Bearer ${ADMIN_TOKEN}` : spec.auth;
}

async function send(baseUrl: string, c: CaseSpec): Promise<Answer> {
  const headers: Record<string, string> = { ...c.headers };
  const auth = authHeader(c);
  if (auth !== null) headers.authorization = auth;
  let body: RequestInit['body'] = undefined;
  if (c.body !== undefined) {
    if (c.contentType !== null) headers['content-type'] = c.contentType ?? 'application/json';
    const bytes = typeof c.body === 'string' ? Buffer.from(c.body, 'utf8') : c.body;
    if (c.chunked) {
      const chunk = 64 * 1024;
      body = new ReadableStream<Uint8Array>({
        start(controller) {
          for (let i = 0; i < bytes.length; i += chunk) controller.enqueue(bytes.subarray(i, i + chunk));
          controller.close();
        },
      });
    } else {
      body = bytes;
    }
  }
  const init: RequestInit & { duplex?: 'half' } = { method: c.method, headers, body, signal: AbortSignal.timeout(30_000) };
  if (c.chunked) init.duplex = 'half';
  try {
    const res = await fetch(`${baseUrl}${c.path}`, init);
    return { status: res.status, text: await res.text() };
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message;
    return { status: 0, text: '', error: `${(err as Error).message}${cause ? ` (${cause})` : ''}` };
  }
}

function problemWith(c: Case, a: Answer, extraForbidden: readonly string[]): string | null {
  if (a.status === 0) return `no answer: ${a.error}`;
  if (a.status >= 500) return `server error ${a.status}`;
  if (a.status < 400) return `accepted with ${a.status}`;
  if (!c.expect.includes(a.status)) return `status ${a.status}, expected ${c.expect.join('/')}`;
  if (a.text.includes(c.marker) || a.text.toLowerCase().includes(c.marker.toLowerCase())) return 'the answer echoes the input (marker found)';
  for (const forbidden of extraForbidden) if (forbidden && a.text.includes(forbidden)) return 'the answer leaks a server path';
  for (const re of STACK_PATTERNS) if (re.test(a.text)) return `the answer looks like internals (${re.source})`;
  let parsed: unknown;
  try {
    parsed = JSON.parse(a.text);
  } catch {
    return 'the answer is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) return 'the answer is not a JSON object';
  const { error, code } = parsed as { error?: unknown; code?: unknown };
  if (typeof error !== 'string' || error.length === 0) return 'the answer has no error message';
  // 431 is answered by Fastify's client-error hook from Node's HTTP parser: {error, message, statusCode}.
  if (a.status !== 431 && (typeof code !== 'string' || !/^[A-Z][A-Z0-9_]*$/.test(code))) return 'the answer has no stable error code';
  return null;
}

async function runCorpus(baseUrl: string, cases: readonly Case[], forbidden: readonly string[], concurrency = 20) {
  const failures: string[] = [];
  const byStatus: Record<string, number> = {};
  const byCategory: Record<string, number> = {};
  let next = 0;
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (next < cases.length) {
        const c = cases[next++];
        const a = await send(baseUrl, c);
        byStatus[a.status] = (byStatus[a.status] ?? 0) + 1;
        byCategory[c.category] = (byCategory[c.category] ?? 0) + 1;
        const problem = problemWith(c, a, forbidden);
        if (problem) {
          failures.push(`#${c.id} [${c.category}] ${c.method} ${c.path.slice(0, 120)} -> ${problem}; answer: ${a.text.slice(0, 240)}`);
        }
      }
    }),
  );
  return { failures, byStatus, byCategory };
}

// ---------------------------------------------------------------------------------------------------
// Value pools

function badValues(m: string): unknown[] {
  const deep: Record<string, unknown> = { v: m };
  let cur = deep;
  for (let i = 0; i < 60; i++) {
    const nextLevel: Record<string, unknown> = {};
    cur.n = nextLevel;
    cur = nextLevel;
  }
  return [
    null, true, false, 0, -1, 1.5, -0.5, 11, 1e308, -1e308, Number.MAX_SAFE_INTEGER + 2, 2 ** 31,
    '', ' ', m, `${m} ${'x'.repeat(300)}`, `1e308${m}`, 'NaN', '-1', 'Infinity', '0x10', '1_000', ' 5 ', 'true', 'null',
    [], [m], [[m]], [1, 2, 3], {}, { [`bad-${m}`]: m }, { nested: { deeper: [m] } }, deep,
  ];
}

const WORKSPACE_FIELDS = [
  'name', 'role', 'tier', 'runtime', 'compute', 'parent_id', 'model', 'delivery_mode', 'update_tier',
  'budget_limit', 'max_concurrent_tasks', 'provision_timeout_seconds', 'required_env', 'secrets', 'external', 'url',
] as const;

const NUMERIC_FIELDS = ['tier', 'budget_limit', 'max_concurrent_tasks', 'provision_timeout_seconds'] as const;
const RAW_NUMBERS = [
  '1e308', '-1e308', '1e400', '-1e400', '1e-400', '-0', '9007199254740993', '1E+2', '123456789012345678901234567890',
  '0.1e1', '1.0', '-1e-7', '4.9e-324', '1.7976931348623157e308',
];

const UNICODE_NAMES = [
  '名前テスト', '🚀🔥💥', 'ملف التعريف', 'עברית שם', 'Z̷̢͎a̵̡l̴̰g̶̣o̷̧', '👨‍👩‍👧‍👦', 'ＦＵＬＬＷＩＤＴＨ', '𝔘𝔫𝔦𝔠𝔬𝔡𝔢', 'a\u0301e\u0301',
  'İstanbul ß ǅ', '\u{10FFFF}max', '\uFFFDreplacement', 'Ελληνικά', 'Кириллица', 'हिन्दी', '中文名字'.repeat(40), 'a\u200bb', '\u00a0nbsp',
];
/** Characters the API's name rule rejects (C0 controls and DEL), placed in the middle of a name. */
const C0_CHARS = [...Array.from({ length: 32 }, (_, i) => String.fromCharCode(i)), '\u007f'];
/** Characters the template parser rejects in names but the API accepts (see the known-defect group). */
const UNSAFE_NAME_CHARS = ['\u0080', '\u0085', '\u009b', '\u009f', '\u2028', '\u2029', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e', '\u2066', '\u2067', '\u2068', '\u2069'];

const MALFORMED_IDS = (m: string): string[] => [
  m, `not-a-uuid-${m}`, `${UNKNOWN_ID}${m}`, `${m}${UNKNOWN_ID}`, UNKNOWN_ID.replace(/-/g, '') + m, `{${UNKNOWN_ID}}${m}`,
  `urn:uuid:${UNKNOWN_ID}${m}`, ` ${m}`, `${m}\u0000`, `..${m}`, `../${m}`, `${m}/..`, '-1', '0', '1e308', 'NaN', 'null', 'undefined',
  'true', '[]', '{}', `' OR 1=1--${m}`, `<script>${m}</script>`, `\${jndi:ldap://x/${m}}`, `../../etc/passwd${m}`, `%00${m}`, `名前${m}`,
  `${'a'.repeat(150)}${m}`, `${UNKNOWN_ID.slice(0, 35)}g`, `${UNKNOWN_ID.toUpperCase().slice(0, 14)}Z${UNKNOWN_ID.slice(15)}${m}`,
];

// ---------------------------------------------------------------------------------------------------
// Corpus: API bodies, ids, queries, headers

function workspaceCases(c: Corpus): void {
  // Wrong types for every field (the rest of the body is valid, parent is a non-existent id).
  for (const field of WORKSPACE_FIELDS) {
    const values = badValues('x');
    for (let i = 0; i < values.length; i++) {
      c.add(`workspaces.${field}`, (m) => {
        const value = badValues(m)[i];
        const body: Record<string, unknown> = { name: `f6 ${m}`, parent_id: SAFE_PARENT, [field]: value };
        const text = j(body);
        return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
      });
    }
  }
  // Huge / tiny / unusual numbers as raw JSON literals (1e400 parses to Infinity); where the number alone is
  // acceptable (clamped fields) an invalid update_tier keeps the body invalid.
  for (const field of NUMERIC_FIELDS) {
    for (const literal of RAW_NUMBERS) {
      c.add('workspaces.raw-number', (m) => {
        let text = `{"name":"f6 ${m}","parent_id":"${SAFE_PARENT}","${field}":${literal}}`;
        if (!workspaceBodyInvalid(text)) text = `{"name":"f6 ${m}","parent_id":"${SAFE_PARENT}","update_tier":"${m}","${field}":${literal}}`;
        return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
      });
    }
  }
  // Numbers given as strings.
  for (const field of NUMERIC_FIELDS) {
    for (const s of ['1e308', '-1e308', 'NaN', 'Infinity', '-Infinity', '1', '0x7fffffff', '1e400', '']) {
      c.add('workspaces.number-as-string', (m) => {
        const text = j({ name: `f6 ${m}`, parent_id: SAFE_PARENT, [field]: s });
        return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
      });
    }
  }
  // Deep nesting as raw JSON text.
  const nest = (open: string, close: string, n: number, inner: string) => open.repeat(n) + inner + close.repeat(n);
  const deep: Array<(m: string) => string> = [
    (m) => `{"name":${nest('[', ']', 10_000, `"${m}"`)}}`,
    (m) => `{"name":"f6 ${m}","secrets":${nest('{"A":', '}', 10_000, '"v"')}}`,
    (m) => nest('[', ']', 10_000, `"${m}"`),
    (m) => nest('{"a":', '}', 10_000, `"${m}"`),
    (m) => `{"name":"f6 ${m}","required_env":${nest('[', ']', 100_000, '')}}`,
    (m) => nest('[', ']', 400_000, `"${m}"`),
    (m) => `{"name":"f6 ${m}","role":${nest('{"r":', '}', 50_000, '1')}}`,
    (m) => `{"name":"f6 ${m}","tier":` + '['.repeat(10_000),
    (m) => `{"name":"f6 ${m}","x":${nest('{"a":', '}', 10_000, '{"__proto__":{"admin":true}}')}}`,
    (m) => `{"name":"f6 ${m}","x":${nest('{"constructor":', '}', 10_000, '{"prototype":{"admin":true}}')},"tier":"x"}`,
    (m) => `{"name":"f6 ${m}","required_env":[${'1,'.repeat(300_000)}1]}`,
    (m) => `{"name":"f6 ${m}","secrets":{${Array.from({ length: 20_000 }, (_, i) => `"K${i}":${i}`).join(',')}}}`,
  ];
  for (const make of deep) {
    c.add('workspaces.deep-nesting', (m) => {
      const text = make(m);
      return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
    });
  }
  // Top-level values that are not objects.
  for (const make of [
    (m: string) => j([{ name: m }]), () => '[]', (m: string) => j(m), () => '123', () => 'true', () => 'false', () => 'null', () => '1e308',
    () => '""', () => '0', (m: string) => j([m, m]), () => '-1e400', (m: string) => `"${m}\\u0000"`,
  ]) {
    c.add('workspaces.non-object', (m) => ({ method: 'POST', path: '/workspaces', body: make(m), expect: [400] }));
  }
  // Malformed JSON text: fixed shapes, then seeded mutations of a body.
  const malformed: Array<(m: string) => string> = [
    (m) => `{"name": "${m}"`, (m) => `{"name": '${m}'}`, (m) => `{name: "${m}"}`, (m) => `{"name": "${m}",}`, (m) => `{"name": "${m}" // c\n}`,
    (m) => `{"name": "${m}", "tier": NaN}`, (m) => `{"name": "${m}", "tier": Infinity}`, (m) => `{"name": "${m}", "tier": 0x10}`,
    (m) => `{"name": "${m}", "tier": +1}`, (m) => `{"name": "${m}", "tier": 01}`, (m) => `{"name": "${m}", "tier": 1.}`,
    (m) => `{"name": "${m}\n"}`, (m) => `{"name": "${m}\\x41"}`, (m) => `{"name": "${m}\\u12"}`, (m) => `{"name": "${m}"}}`,
    (m) => `{"name": "${m}"}{"name": "x"}`, (m) => `\u0000{"name": "${m}"}`, (m) => `{"name": "${m}"}\u0000`, (m) => `{"name" "${m}"}`,
    (m) => `{"name": undefined, "x": "${m}"}`, (m) => `{"name": "${m}", "tier": 1e}`, (m) => `{"name": "${m}", "tier": -}`,
    (m) => `<xml>${m}</xml>`, (m) => `name=${m}&tier=1`, (m) => `---\nname: ${m}\n`, () => ' ', () => '\n\t\r ',
    (m) => `{"name": "${m}", "__proto__": {"isAdmin": true}}`, (m) => `{"__proto__": [], "name": "${m}"}`, (m) => `\uFEFF\uFEFF{"name": "${m}"}`,
  ];
  for (const make of malformed) {
    c.add('workspaces.malformed-json', (m) => {
      const text = make(m);
      return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
    });
  }
  const MUTATION_ALPHABET = ['{', '}', '[', ']', '"', ',', ':', '\\', '\u0000', 'e', '-', '.', ' ', '\n', 'n', 'u', '\u00ff', '\ud800'];
  for (let i = 0; i < 120; i++) {
    c.add('workspaces.mutated-json', (m) => {
      let text = j({ name: `f6 ${m}`, parent_id: SAFE_PARENT, tier: 'x', role: 'r', secrets: { A: 'b' }, required_env: ['A'] });
      const edits = 1 + randInt(4);
      for (let e = 0; e < edits; e++) {
        const at = randInt(text.length);
        const op = randInt(3);
        if (op === 0) text = text.slice(0, at) + text.slice(at + 1 + randInt(3));
        else if (op === 1) text = text.slice(0, at) + pick(MUTATION_ALPHABET) + text.slice(at);
        else text = text.slice(0, at);
      }
      if (!text.includes(m)) text = `${text}${m}`; // truncation removed the marker: put it back (still malformed)
      return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
    });
  }
  // Names: C0 controls in the middle, whitespace-only, unicode (with an invalid tier so the body is invalid), overlong.
  for (const ch of C0_CHARS) {
    c.add('workspaces.name-control-char', (m) => {
      const text = j({ name: `f6 ${m}${ch}x`, parent_id: SAFE_PARENT });
      return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
    });
  }
  for (const ws of [' ', '   ', '\u3000', '\u00a0', '\u2003', '\ufeff', '\u2028', ' \t ', '\u1680', '\u205f']) {
    c.add('workspaces.name-blank', () => {
      const text = j({ name: ws, parent_id: SAFE_PARENT, role: 'x' });
      return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
    });
  }
  for (const name of UNICODE_NAMES) {
    for (const rtlWrap of [false, true]) {
      c.add('workspaces.name-unicode', (m) => {
        const text = j({ name: rtlWrap ? `${m} ${name}` : `${name} ${m}`, parent_id: SAFE_PARENT, tier: `${name}${m}` });
        return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
      });
    }
  }
  const overlong: Array<(m: string) => Record<string, unknown>> = [
    (m) => ({ name: `${m}${'n'.repeat(201)}` }), (m) => ({ name: `${m}${'n'.repeat(10_000)}` }), (m) => ({ name: `${m}${'n'.repeat(500_000)}` }),
    (m) => ({ name: `${m}${'🚀'.repeat(200)}` }), (m) => ({ name: 'ok', role: `${m}${'r'.repeat(201)}` }), (m) => ({ name: 'ok', model: `${m}${'m'.repeat(201)}` }),
    (m) => ({ name: 'ok', runtime: `${m}${'r'.repeat(65)}` }), (m) => ({ name: 'ok', secrets: { A: `${m}${'v'.repeat(64 * 1024)}` } }),
    (m) => ({ name: m, required_env: [`A${'B'.repeat(128)}`] }), (m) => ({ name: m, required_env: Array.from({ length: 101 }, (_, i) => `E${i}`) }),
    (m) => ({ name: m, secrets: Object.fromEntries(Array.from({ length: 101 }, (_, i) => [`S${i}`, 'v'])) }),
    (m) => ({ name: m, parent_id: `${SAFE_PARENT}${'0'.repeat(1000)}` }), (m) => ({ name: m, delivery_mode: `${m}${'p'.repeat(5000)}` }),
    (m) => ({ name: m, compute: `docker${'\u0000'.repeat(10)}` }), (m) => ({ name: m, compute: 'DOCKER' }), (m) => ({ name: m, update_tier: 'Production' }),
  ];
  for (const make of overlong) {
    c.add('workspaces.overlong', (m) => {
      const text = j({ parent_id: SAFE_PARENT, ...make(m) });
      return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
    });
  }
  // Content types other than JSON (the body would be invalid JSON for the schema anyway).
  const types: Array<string | null> = [
    'text/plain', 'text/html', 'application/xml', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x',
    'application/octet-stream', null, 'application/jsonp', 'application/json-seq', 'image/png', 'ZZ/json', 'application/ json',
    'application/json; charset=utf-16', 'application/json; charset=ZZ', 'text/json', 'application/yaml', '*/*', 'application',
  ];
  for (const contentType of types) {
    c.add('workspaces.content-type', (m) => ({
      method: 'POST',
      path: '/workspaces',
      body: contentType === null ? Buffer.from(j({ name: 1, x: m })) : j({ name: 1, x: m }),
      contentType: contentType === null ? null : contentType.replace('ZZ', m),
      expect: [400, 415],
    }));
  }
}

function idAndQueryCases(c: Corpus): void {
  const routes: Array<{ method: Method; suffix: string; body?: string; query?: string }> = [
    { method: 'POST', suffix: '/restart', body: '{}' },
    { method: 'DELETE', suffix: '', query: '?confirm=true' },
    { method: 'DELETE', suffix: '' },
    { method: 'GET', suffix: '' },
    { method: 'GET', suffix: '/activity' },
    { method: 'POST', suffix: '/provision', body: '{}' },
    { method: 'GET', suffix: '/secrets' },
    { method: 'POST', suffix: '/secrets', body: '{"key":"F6_KEY","value":"v"}' },
    { method: 'DELETE', suffix: '/secrets/F6_KEY' },
    { method: 'GET', suffix: '/model' },
    { method: 'PUT', suffix: '/model', body: '{"model":"anthropic/x"}' },
    { method: 'GET', suffix: '/provider' },
    { method: 'PUT', suffix: '/provider', body: '{"provider":"anthropic"}' },
    { method: 'GET', suffix: '/events' },
  ];
  const count = MALFORMED_IDS('x').length;
  for (let i = 0; i < count; i++) {
    for (const r of routes) {
      c.add(`ids.${r.method.toLowerCase()}${r.suffix || ''}`, (m) => {
        const id = MALFORMED_IDS(m)[i];
        const path = `/workspaces/${enc(id)}${r.suffix}${r.query ?? ''}`;
        return { method: r.method, path, body: r.body, expect: [400] };
      });
    }
  }
  // Valid but unknown ids: 404, never 2xx.
  for (const id of [UNKNOWN_ID, UNKNOWN_ID.toUpperCase(), '00000000-0000-0000-0000-000000000000', 'ffffffff-ffff-ffff-ffff-ffffffffffff']) {
    for (const r of routes) c.add('ids.unknown', () => ({ method: r.method, path: `/workspaces/${id}${r.suffix}${r.query ?? ''}`, body: r.body, expect: [404] }));
  }
  // DELETE query strings (valid unknown id, and a malformed one).
  const queries = (m: string): string[] => [
    `confirm=yes&x=${m}`, `confirm=TRUE&x=${m}`, `confirm=1&x=${m}`, `confirm=&x=${m}`, `confirm=true&confirm=true&x=${m}`, `confirm[]=true&x=${m}`,
    `confirm[a]=b&x=${m}`, `confirm=true&purge=maybe${m}`, `confirm=true&purge=1&x=${m}`, `confirm=%00${m}`, `confirm=true%00${m}`, `confirm=${m}`,
    `confirm=%ZZ${m}`, `purge=${m}&confirm=true&purge=true`, `confirm=${'t'.repeat(8000)}${m}`, `confirm=tr%75e${m}`, `confirm=true%20${m}`,
    `confirm=%E0%A4%A${m}`, `confirm=${enc('真')}${m}`, `purge=true&purge=false&confirm=true&x=${m}`,
  ];
  const qCount = queries('x').length;
  for (let i = 0; i < qCount; i++) {
    c.add('query.delete', (m) => {
      const q = queries(m)[i];
      const parsed = Object.fromEntries(new URLSearchParams(q));
      // Only cases whose query is invalid by the schema (multi-valued keys become arrays on the server).
      const multi = new URLSearchParams(q).getAll('confirm').length > 1 || new URLSearchParams(q).getAll('purge').length > 1;
      // A valid query reaches the handler, which answers 404 for the unknown id.
      const invalid = multi || !deleteQuery.safeParse(parsed).success;
      return { method: 'DELETE', path: `/workspaces/${UNKNOWN_ID}?${q}`, expect: invalid ? [400] : [404] };
    });
    c.add('query.delete-bad-id', (m) => ({ method: 'DELETE', path: `/workspaces/${m}-x?${queries(m)[i]}`, expect: [400] }));
  }
  // Prototype-ish keys that are simply unknown: the query is valid, the id unknown.
  for (const q of ['__proto__=x', '__proto__[confirm]=true', 'constructor[prototype][confirm]=true', 'toString=true', 'hasOwnProperty=1']) {
    c.add('query.delete-proto', (m) => ({ method: 'DELETE', path: `/workspaces/${UNKNOWN_ID}?${q}&y=${m}`, expect: [404] }));
  }
  // Restart bodies (unknown id; validation comes first).
  // Not here since issue 18: '' and 'null', which are no body (restart's body is optional; contract.test.ts).
  const restartBodies = (m: string): string[] => [
    j({ rebuild_config: 'true', x: m }), j({ rebuild_config: 1, x: m }), j({ rebuild_config: null, x: m }), j({ rebuild_config: [true], x: m }),
    j({ rebuild_config: { v: m } }), j([m]), j(m), '1', 'true', `{"rebuild_config": tru, "x": "${m}"}`, `{"rebuild_config":`,
    `{"rebuild_config": false, "x": "${m}"`, `[${'['.repeat(10_000)}"${m}"${']'.repeat(10_000)}]`, j({ rebuild_config: 'false', x: m }),
    j({ rebuild_config: 0, x: m }), j({ rebuild_config: `${m}${'y'.repeat(5000)}` }),
  ];
  const rCount = restartBodies('x').length;
  for (let i = 0; i < rCount; i++) {
    c.add('restart.body', (m) => ({ method: 'POST', path: `/workspaces/${UNKNOWN_ID}/restart`, body: restartBodies(m)[i], expect: [400] }));
  }
  // List queries.
  const listQueries = (m: string): string[] => [
    'limit=0', 'limit=-1', 'limit=1001', 'limit=1e308', `limit=abc${m}`, 'limit=1.5', 'limit=NaN', 'limit=Infinity', 'limit=', `parent_id=${m}`,
    `include_removed=1&x=${m}`, `include_removed=yes${m}`, 'limit=1&limit=2', `parent_id=${UNKNOWN_ID}&parent_id=${m}`, 'limit=99999999999999999999999',
    `limit=${'9'.repeat(5000)}`, 'limit=-0.5', 'limit=1e-400', 'limit=0x10', 'limit=%00',
  ];
  const lCount = listQueries('x').length;
  for (let i = 0; i < lCount; i++) {
    c.add('query.list', (m) => {
      const q = listQueries(m)[i];
      const sp = new URLSearchParams(q);
      const multi = [...new Set(sp.keys())].some((k) => sp.getAll(k).length > 1);
      const invalid = multi || !listWorkspacesQuery.safeParse(Object.fromEntries(sp)).success;
      return invalid ? { method: 'GET', path: `/workspaces?${q}`, expect: [400] } : null;
    });
  }
}

/** The import routes by id: malformed ids are a 400, valid unknown ones a 404 (never a 2xx or a 5xx). */
function importIdCases(c: Corpus): void {
  const routes: Array<{ method: Method; suffix: string; body?: string }> = [
    { method: 'GET', suffix: '' },
    { method: 'POST', suffix: '/retry', body: '{}' },
    { method: 'POST', suffix: '/cancel', body: '{}' },
    { method: 'POST', suffix: '/cancel' },
  ];
  const count = MALFORMED_IDS('x').length;
  for (let i = 0; i < count; i++) {
    for (const r of routes) {
      c.add(`import-ids.${r.method.toLowerCase()}${r.suffix || ''}`, (m) => ({ method: r.method, path: `/org/imports/${enc(MALFORMED_IDS(m)[i])}${r.suffix}`, body: r.body, expect: [400] }));
    }
  }
  for (const id of [UNKNOWN_ID, UNKNOWN_ID.toUpperCase(), '00000000-0000-0000-0000-000000000000']) {
    for (const r of routes) c.add('import-ids.unknown', () => ({ method: r.method, path: `/org/imports/${id}${r.suffix}`, body: r.body, expect: [404] }));
  }
  // The cancel route needs the admin token like every other import route.
  c.add('import-ids.cancel-auth', (m) => ({ method: 'POST', path: `/org/imports/${UNKNOWN_ID}/cancel`, auth: `Bearer ${m}`, expect: [401] }));
  c.add('import-ids.cancel-auth', () => ({ method: 'POST', path: `/org/imports/${UNKNOWN_ID}/cancel`, auth: null, expect: [401] }));
}

function registryCases(c: Corpus): void {
  const bodies = (m: string): string[] => [
    j({ workspace_id: m }), j({ workspace_id: null }), j({ workspace_id: 1, x: m }), j({ workspace_id: true, x: m }), j({ workspace_id: [UNKNOWN_ID], x: m }),
    j({ workspace_id: { id: m } }), j({ workspace_id: '' , x: m}), j({ workspace_id: `${UNKNOWN_ID}${m}` }), j({ workspace_id: `${m}${'a'.repeat(10_000)}` }),
    j({ x: m }), j([m]), j(m), 'null', '1e308', `{"workspace_id": "${m}"`, j({ workspace_id: UNKNOWN_ID, url: `javascript:alert('${m}')` }),
    j({ workspace_id: UNKNOWN_ID, url: `file:///etc/passwd?${m}` }), j({ workspace_id: UNKNOWN_ID, url: `ftp://${m}.example` }),
    j({ workspace_id: UNKNOWN_ID, url: `http://${m}.example/${'p'.repeat(3000)}` }), j({ workspace_id: UNKNOWN_ID, url: 12 , x: m}),
    j({ workspace_id: UNKNOWN_ID, url: `not a url ${m}` }), j({ workspace_id: UNKNOWN_ID, url: `http://[::1${m}` }),
    j({ workspace_id: UNKNOWN_ID, url: `data:text/html,${m}` }), `{"workspace_id":${'['.repeat(10_000)}"${m}"${']'.repeat(10_000)}}`,
    j({ workspace_id: `${UNKNOWN_ID.slice(0, 8)}\u0000${UNKNOWN_ID.slice(9)}`, x: m }), j({ workspace_id: `' OR 1=1 --${m}` }),
  ];
  const count = bodies('x').length;
  // The bootstrap exchange is rate limited per address: past the limit a guess answers 429, not 401.
  const refusedAuth = (route: string): number[] => (route === '/registry/bootstrap' ? [401, 429] : [401]);
  for (const route of ['/registry/register', '/registry/heartbeat', '/registry/bootstrap'] as const) {
    const schema = route === '/registry/register' ? registerBody : route === '/registry/heartbeat' ? heartbeatBody : bootstrapBody;
    for (let i = 0; i < count; i++) {
      for (const auth of [null, 'Bearer agent-token-f6']) {
        c.add(`registry.body${route.slice(9)}`, (m) => {
          const text = bodies(m)[i];
          const parsed = parseJsonLikeServer(text);
          const valid = parsed.ok && schema.safeParse(parsed.value).success;
          return { method: 'POST', path: route, body: text, auth, expect: valid ? refusedAuth(route) : [400] };
        });
      }
    }
  }
  // The heartbeat report (A2.1): every field with a wrong type, text Postgres cannot store, or a bad
  // capability; in-range and clamped values are valid and must meet the token check (401) instead.
  const report = (m: string): Array<Record<string, unknown>> => [
    { error_rate: m }, { error_rate: [0.5, m] }, { error_rate: { m } }, { error_rate: true, x: m },
    { sample_error: 12, x: m }, { sample_error: `${m}\u0000` }, { sample_error: [m] },
    { active_tasks: `${m}` }, { active_tasks: { n: m } }, { active_tasks: false, x: m },
    { uptime_seconds: m }, { uptime_seconds: [1], x: m },
    { current_task: 7, x: m }, { current_task: `\u0000${m}` }, { current_task: { task: m } },
    { monthly_spend: `${m}100` }, { monthly_spend: { cents: m } },
    { runtime_state: `${m}${'w'.repeat(64)}` }, { runtime_state: `wedged\n${m}` }, { runtime_state: 3, x: m }, { runtime_state: `\u0000${m}` },
    { runtime_metadata: m }, { runtime_metadata: [m] }, { runtime_metadata: { capabilities: m } },
    { runtime_metadata: { capabilities: { [m]: 'yes' } } }, { runtime_metadata: { capabilities: { [`${m} x`]: true } } },
    { runtime_metadata: { capabilities: { [`${m}${'c'.repeat(64)}`]: true } } },
    { runtime_metadata: { capabilities: Object.fromEntries(Array.from({ length: 65 }, (_, i) => [`${m}${i}`, true])) } },
    { runtime_metadata: { idle_timeout_seconds: m } }, { runtime_metadata: { capabilities: {}, idle_timeout_seconds: [m] } },
    // valid: clamped or cut, then refused by the token check
    { error_rate: 7, sample_error: `${m}${'e'.repeat(2000)}` }, { monthly_spend: -1, current_task: m }, { active_tasks: 1e9, runtime_state: m },
  ];
  const rCount = report('x').length;
  for (let i = 0; i < rCount; i++) {
    for (const auth of [null, 'Bearer agent-token-f6']) {
      c.add('registry.heartbeat-report', (m) => {
        const value = { workspace_id: UNKNOWN_ID, ...report(m)[i] };
        return { method: 'POST', path: '/registry/heartbeat', body: j(value), auth, expect: heartbeatBody.safeParse(value).success ? [401] : [400] };
      });
    }
  }
  const authHeaders = (m: string): string[] => [
    'Bearer', 'Bearer ', 'Bearer  x', `bearer ${m}`, 'Basic dXNlcjpwYXNz', `Bearer ${m}`, `Bearer ${ADMIN_TOKEN}`, `Bearer ${'a'.repeat(600)}${m}`,
    `Bearer a b ${m}`, `Bearer \t${m}`, `Bearer ${m}\u00ff`, `Token ${m}`, `Bearer${' '.repeat(100)}${m}`, `Bearer ${'f'.repeat(64)}`, 'Bearer null',
    'Bearer undefined', `Bearer ' OR '1'='1 ${m}`, `Bearer ${m}, Bearer ${ADMIN_TOKEN}`, `${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN} `,
    `Bearer ${ADMIN_TOKEN.slice(0, -1)}`, `Bearer ${ADMIN_TOKEN}x`, `Bearer ${ADMIN_TOKEN.toUpperCase()}`, `Bearer\u00a0${ADMIN_TOKEN}`,
  ];
  const aCount = authHeaders('x').length;
  for (let i = 0; i < aCount; i++) {
    for (const route of ['/registry/register', '/registry/heartbeat', '/registry/bootstrap']) {
      c.add('registry.auth', (m) => ({ method: 'POST', path: route, body: j({ workspace_id: UNKNOWN_ID }), auth: authHeaders(m)[i], expect: refusedAuth(route) }));
    }
    // Admin routes with a wrong token but an otherwise valid request.
    c.add('admin.auth', (m) => ({ method: 'GET', path: '/workspaces', auth: authHeaders(m)[i].replace(`Bearer ${ADMIN_TOKEN}`, `Bearer ${ADMIN_TOKEN}${m}`), expect: [401] }));
    c.add('admin.auth', (m) => {
      const auth = authHeaders(m)[i];
      // The admin token itself, and with a trailing space (fetch trims header values), would authenticate.
      if (auth === `Bearer ${ADMIN_TOKEN}` || auth === `Bearer ${ADMIN_TOKEN} `) return null;
      return { method: 'POST', path: '/workspaces', body: j({ name: `f6 ${m}`, parent_id: SAFE_PARENT }), auth, expect: [401] };
    });
    c.add('admin.auth', (m) => {
      const auth = authHeaders(m)[i];
      if (auth === `Bearer ${ADMIN_TOKEN}` || auth === `Bearer ${ADMIN_TOKEN} `) return null;
      return { method: 'POST', path: '/org/import', body: j({ template: { name: `f6 ${m}`, required_env: [SAFETY_ENV] } }), auth, expect: [401] };
    });
  }
}

/**
 * External agents (A5.1, A5.4, A5.6): register's delivery_mode, create's external/url pairs, and push
 * URLs that are well formed but point inside the platform (400 PUSH_URL_REFUSED before anything is
 * created; the parent id is the second net).
 */
function externalAgentCases(c: Corpus): void {
  const modes = (m: string): unknown[] => [
    `push${m}`, `${m}`, 'PUSH', 'Poll', ' poll', 'poll ', '', 'pull', 'webhook', null, 0, 1, true, [m], ['poll'], { mode: m }, `poll\u0000${m}`,
  ];
  for (let i = 0; i < modes('x').length; i++) {
    for (const auth of [null, 'Bearer agent-token-f6']) {
      c.add('external.register-mode', (m) => {
        const text = j({ workspace_id: UNKNOWN_ID, delivery_mode: modes(m)[i], url: `https://${m.toLowerCase()}.example/` });
        const parsed = parseJsonLikeServer(text);
        return parsed.ok && registerBody.safeParse(parsed.value).success ? null : { method: 'POST', path: '/registry/register', body: text, auth, expect: [400] };
      });
    }
  }
  const pairs = (m: string): Array<Record<string, unknown>> => [
    { external: true, runtime: `hermes` },
    { external: true, runtime: `claude-code`, url: `https://${m}.example/` },
    { external: true, runtime: m },
    { external: `true${m}` },
    { external: 'true' },
    { external: 1 },
    { url: `https://${m}.example/` },
    { runtime: 'hermes', url: `https://${m}.example/` },
    { external: true, url: `ftp://${m}.example/` },
    { external: true, url: `javascript:${m}` },
    { external: true, url: `https://${m}.example/${'p'.repeat(2100)}` },
    { runtime: 'external', url: m },
    { runtime: 'external', url: ['https://a.example/', m] },
  ];
  for (let i = 0; i < pairs('x').length; i++) {
    c.add('external.create', (m) => {
      const text = j({ name: `f6 ${m}`, parent_id: SAFE_PARENT, ...pairs(m)[i] });
      return workspaceBodyInvalid(text) ? { method: 'POST', path: '/workspaces', body: text, expect: [400] } : null;
    });
  }
  const internal = (m: string): string[] => [
    `http://127.0.0.1/${m}`, `http://169.254.169.254/latest/${m}`, `http://10.1.2.3/${m}`, `http://[::1]/${m}`, `http://localhost/${m}`,
    `http://[fe80::1]/${m}`, `http://100.64.0.1/${m}`, `http://192.0.2.1/${m}`, `http://224.0.0.1/${m}`, `http://0.0.0.0/${m}`,
    `http://2130706433/${m}`, `http://[::ffff:127.0.0.1]/${m}`, `https://u:p@8.8.8.8/${m}`, `http://${m.toLowerCase()}.invalid/`,
  ];
  for (let i = 0; i < internal('x').length; i++) {
    c.add('external.create-url-refused', (m) => ({
      method: 'POST',
      path: '/workspaces',
      body: j({ name: `f6 ${m}`, parent_id: SAFE_PARENT, runtime: 'external', url: internal(m)[i] }),
      expect: [400],
    }));
  }
}

/** Idempotency-Key values the API must refuse (400) on both creating routes, before anything is created. */
function idempotencyKeyCases(c: Corpus): void {
  const keys = (m: string): string[] => [
    '', `${m} x`, `${m};`, `${m}"`, `${m}'`, `${'k'.repeat(129)}${m}`, `${m}${'k'.repeat(120)}`, `${m}\u00e9`, `${m},${m}`, `${m}, ${m}`,
    `<script>${m}`, `${m}\\`, `${m}%00`, `${m}#`, `${m}?`, `${m}@`, `{${m}}`, `${m}*`, `${m}|`, `${m}!`, `${m}~`, `$${m}`, `${m}&`,
    `(${m})`, `[${m}]`, `${m}^`, `\`${m}\``, `${m}\t${m}`, `${m}<>`, `${m}\u00ff\u00fe`,
  ];
  const count = keys('x').length;
  for (let i = 0; i < count; i++) {
    c.add('idempotency.workspaces', (m) => {
      const key = keys(m)[i];
      if (IDEMPOTENCY_KEY_PATTERN.test(key)) return null;
      return { method: 'POST', path: '/workspaces', body: j({ name: 'f6 idem', parent_id: SAFE_PARENT }), headers: { 'idempotency-key': key }, expect: [400] };
    });
    c.add('idempotency.import', (m) => {
      const key = keys(m)[i];
      if (IDEMPOTENCY_KEY_PATTERN.test(key)) return null;
      return { method: 'POST', path: '/org/import', body: j({ template: { name: 'f6 idem', required_env: [SAFETY_ENV] } }), headers: { 'idempotency-key': key }, expect: [400] };
    });
  }
}

function secretCases(c: Corpus): void {
  const names = (m: string): string[] => [
    `lower${m}`, `a${m}`, `1${m}`, `_${m}`, `${m}-X`, `${m}.X`, `${m} X`, `A${'B'.repeat(128)}${m}`.slice(0, 190), `Ä${m}`, `${m}\u0000`, `..${m}`,
    `../../${m}`, `${m}\n`, `${m}%`, `${m}$`, `${m}/X`, `${m}\\X`, `${m}'`, `${m}"`, `${m};DROP`, `${m}é`, `\u202e${m}`, `${m}*`, `${m}?x=1`,
    `${m}#frag`,
  ];
  const count = names('x').length;
  for (let i = 0; i < count; i++) {
    c.add('secrets.name-workspace', (m) => {
      const name = names(m)[i];
      if (secretParams.safeParse({ id: UNKNOWN_ID, name }).success) return null;
      return { method: 'PUT', path: `/workspaces/${UNKNOWN_ID}/secrets/${enc(name)}`, body: j({ value: m }), expect: [400] };
    });
    c.add('secrets.name-global', (m) => {
      const name = names(m)[i];
      if (globalSecretParams.safeParse({ name }).success) return null;
      return { method: 'PUT', path: `/admin/secrets/${enc(name)}`, body: j({ value: m }), expect: [400] };
    });
    c.add('secrets.name-bad-id', (m) => ({ method: 'PUT', path: `/workspaces/${m}-id/secrets/${enc(names(m)[i])}`, body: j({ value: m }), expect: [400] }));
  }
  const bodies = (m: string): string[] => [
    j({ value: 1, x: m }), j({ value: null, x: m }), j({ x: m }), j([m]), j({ value: `${m}${'v'.repeat(64 * 1024)}` }), j({ value: { v: m } }), 'null',
    j(m), `{"value": "${m}"`, j({ value: [m] }), j({ value: true, x: m }), `{"value":${'['.repeat(10_000)}"${m}"${']'.repeat(10_000)}}`,
  ];
  const bCount = bodies('x').length;
  for (let i = 0; i < bCount; i++) {
    for (const path of [`/admin/secrets/F6_VALID_NAME`, `/workspaces/${UNKNOWN_ID}/secrets/F6_VALID_NAME`]) {
      c.add('secrets.body', (m) => {
        const text = bodies(m)[i];
        const parsed = parseJsonLikeServer(text);
        if (parsed.ok && secretBody.safeParse(parsed.value).success) return null; // would store a secret
        return { method: 'PUT', path, body: text, expect: [400] };
      });
    }
  }
  // {key, value} bodies (workspace and global), model and provider bodies.
  const keyed = (m: string): string[] => [
    j({ key: `lower${m}`, value: 'v' }), j({ key: 'F6_OK', value: 1, x: m }), j({ key: null, value: m }), j({ value: m }), j({ key: `F6_${m}`.toLowerCase(), value: m }),
    j({ key: `../${m}`, value: 'v' }), j({ key: 'F6_OK', value: `${m}${'v'.repeat(64 * 1024)}` }), j([m]), `{"key":"F6_OK","value":"${m}"`,
  ];
  for (let i = 0; i < keyed('x').length; i++) {
    for (const path of ['/settings/secrets', `/workspaces/${UNKNOWN_ID}/secrets`]) {
      c.add('secrets.keyed-body', (m) => {
        const text = keyed(m)[i];
        const parsed = parseJsonLikeServer(text);
        if (parsed.ok && secretWriteBody.safeParse(parsed.value).success) return null;
        return { method: 'POST', path, body: text, expect: [400] };
      });
    }
  }
  const settings = (m: string): Array<[string, string]> => [
    ['/model', j({ model: 1, x: m })], ['/model', j({ model: `${m}${'m'.repeat(300)}` })], ['/model', j({ x: m })],
    ['/provider', j({ provider: `Bad ${m}` })], ['/provider', j({ provider: `${m}/x` })], ['/provider', j({ provider: null, x: m })],
  ];
  for (let i = 0; i < settings('x').length; i++) {
    c.add('settings.body', (m) => {
      const [suffix, body] = settings(m)[i];
      return { method: 'PUT', path: `/workspaces/${UNKNOWN_ID}${suffix}`, body, expect: [400] };
    });
  }
  // Event cursors and stream filters.
  const cursors = (m: string): string[] => [`${m}`, `1-${m}`, `${m}-1`, `1-1-${m}`, `${'9'.repeat(30)}-1${m}`, `-1-${m}`, `1.5-${m}`];
  for (let i = 0; i < cursors('x').length; i++) {
    c.add('events.cursor', (m) => ({ method: 'GET', path: `/workspaces/${UNKNOWN_ID}/events?before=${enc(cursors(m)[i])}`, expect: [400] }));
    c.add('events.stream-cursor', (m) => ({ method: 'GET', path: `/events/stream?last_event_id=${enc(cursors(m)[i])}`, expect: [400] }));
  }
  c.add('events.stream-filter', (m) => ({ method: 'GET', path: `/events/stream?workspace_id=${enc(m)}`, expect: [400] }));
  c.add('events.stream-filter', (m) => ({ method: 'GET', path: `/events/stream?org_import_id=${enc(m)}`, expect: [400] }));
}

/**
 * The management routes (A11, A12): PATCH and budget bodies, token and activity queries, token ids and
 * list cursors. Every valid input names the unknown workspace, so it answers 404 and changes nothing.
 */
function managementCases(c: Corpus): void {
  const valid = (schema: { safeParse(v: unknown): { success: boolean } }, text: string): boolean => {
    const parsed = parseJsonLikeServer(text);
    return parsed.ok && schema.safeParse(parsed.value).success;
  };
  const PATCH_FIELDS = ['name', 'role', 'runtime', 'tier', 'parent_id', 'collapsed', 'workspace_dir', 'x', 'y'] as const;
  const values = badValues('x').length;
  for (const field of PATCH_FIELDS) {
    for (let i = 0; i < values; i++) {
      c.add(`patch.${field}`, (m) => {
        const body: Record<string, unknown> = { [field]: badValues(m)[i] };
        if (field === 'x' || field === 'y') body[field === 'x' ? 'y' : 'x'] = 0;
        const text = j(body);
        return { method: 'PATCH', path: `/workspaces/${UNKNOWN_ID}`, body: text, expect: valid(patchWorkspaceBody, text) ? [404] : [400] };
      });
    }
  }
  const patchShapes = (m: string): string[] => [
    j({}), j({ other: m }), j({ x: 1, other: m }), j({ y: 1, other: m }), j({ runtime: `codex\n${m}` }), j({ workspace_dir: `relative/${m}` }),
    j({ workspace_dir: `/srv/${m}\u0000` }), j({ workspace_dir: `/${m}${'d'.repeat(4100)}` }), j({ name: `${m}\n` }), j({ role: `${m}\u2028` }),
    j({ parent_id: `${UNKNOWN_ID}${m}` }), j([m]), j(m), 'null', `{"name":"${m}"`, `{"x":${'['.repeat(10_000)}"${m}"${']'.repeat(10_000)}}`,
    j({ runtime: `${m}${'r'.repeat(70)}` }), j({ tier: 1e308, other: m }), j({ x: 1e400, y: 0, other: m }),
  ];
  for (let i = 0; i < patchShapes('x').length; i++) {
    c.add('patch.shape', (m) => {
      const text = patchShapes(m)[i];
      return { method: 'PATCH', path: `/workspaces/${UNKNOWN_ID}`, body: text, expect: valid(patchWorkspaceBody, text) ? [404] : [400] };
    });
  }
  for (let i = 0; i < values; i++) {
    c.add('budget.body', (m) => {
      const text = j({ budget_limit: badValues(m)[i], other: m });
      return { method: 'PATCH', path: `/workspaces/${UNKNOWN_ID}/budget`, body: text, expect: valid(budgetBody, text) ? [404] : [400] };
    });
  }
  for (const text of ['{}', j({ budget_limit: -1 }), j({ budget_limit: 0.5 }), j({ budget_limit: '10' }), '1e400', `{"budget_limit":1e400}`]) {
    c.add('budget.body', () => ({ method: 'PATCH', path: `/workspaces/${UNKNOWN_ID}/budget`, body: text, expect: [400] }));
  }
  const ids = MALFORMED_IDS('x').length;
  for (let i = 0; i < ids; i++) {
    const id = (m: string) => enc(MALFORMED_IDS(m)[i]);
    c.add('management.bad-id', (m) => ({ method: 'PATCH', path: `/workspaces/${id(m)}`, body: j({ name: 'f6' }), expect: [400] }));
    c.add('management.bad-id', (m) => ({ method: 'GET', path: `/workspaces/${id(m)}/budget`, expect: [400] }));
    c.add('management.bad-id', (m) => ({ method: 'POST', path: `/workspaces/${id(m)}/tokens`, expect: [400] }));
    c.add('management.bad-id', (m) => ({ method: 'GET', path: `/workspaces/${id(m)}/activity`, expect: [400] }));
    c.add('management.bad-token-id', (m) => {
      const tokenId = MALFORMED_IDS(m)[i];
      if (tokenParams.safeParse({ id: UNKNOWN_ID, tokenId }).success) return null;
      return { method: 'DELETE', path: `/workspaces/${UNKNOWN_ID}/tokens/${enc(tokenId)}`, expect: [400] };
    });
  }
  c.add('tokens.unknown', () => ({ method: 'POST', path: `/workspaces/${UNKNOWN_ID}/tokens`, expect: [404] }));
  c.add('tokens.unknown', (m) => ({ method: 'POST', path: `/workspaces/${UNKNOWN_ID}/tokens`, body: j({ label: m }), expect: [404] }));
  c.add('tokens.unknown', (m) => ({ method: 'POST', path: `/workspaces/${UNKNOWN_ID}/tokens`, body: `{"label":"${m}"`, expect: [400] }));
  const queryCase = (category: string, path: string, schema: { safeParse(v: unknown): { success: boolean } }, q: string): CaseSpec => {
    const sp = new URLSearchParams(q);
    const multi = [...new Set(sp.keys())].some((k) => sp.getAll(k).length > 1);
    const invalid = multi || !schema.safeParse(Object.fromEntries(sp)).success;
    return { method: 'GET', path: `${path}?${q}`, expect: invalid ? [400] : [404] };
  };
  const tokenQueries = (m: string): string[] => [
    'limit=0', 'limit=201', 'limit=-1', 'limit=1.5', `limit=${m}`, 'limit=1e308', 'offset=-1', `offset=${m}`, 'offset=1.5', 'offset=1e308', 'limit=1&limit=2',
    `offset=${'9'.repeat(5000)}`, 'limit=', `limit=50&x=${m}`,
  ];
  for (let i = 0; i < tokenQueries('x').length; i++) {
    c.add('tokens.query', (m) => queryCase('tokens.query', `/workspaces/${UNKNOWN_ID}/tokens`, tokenListQuery, tokenQueries(m)[i]));
  }
  const activityQueries = (m: string): string[] => [
    `source=${m}`, 'source=platform', 'source=', 'since_secs=0', 'since_secs=-1', 'since_secs=1.5', `since_secs=${m}`, 'since_secs=Infinity', 'since_secs=1e400',
    `peer_id=${m}`, `peer_id=${UNKNOWN_ID}${m}`, `before_ts=${m}`, 'before_ts=2026-01-01', 'before_ts=2026-02-30T00:00:00Z', `before_ts=2026-01-01T00:00:00Z${m}`,
    `since_id=${m}`, 'since_id=0', 'since_id=-1', `since_id=${'9'.repeat(30)}`, 'limit=0', 'limit=501', `limit=${m}`, `type=${m}%20x`, `type=${'t'.repeat(101)}${m}`,
    'type=a&type=b', `type=${m}%00`, 'since_secs=99999999999', `source=agent&since_secs=60&x=${m}`,
  ];
  for (let i = 0; i < activityQueries('x').length; i++) {
    c.add('activity.query', (m) => queryCase('activity.query', `/workspaces/${UNKNOWN_ID}/activity`, activityQuery, activityQueries(m)[i]));
  }
  const cursors = (m: string): string[] => [m, `${m}==`, Buffer.from(`2026-01-01T00:00:00.000000Z_${m}`).toString('base64url'), Buffer.from(m).toString('base64url'), `${m}${'c'.repeat(300)}`, `${m}%00`];
  for (let i = 0; i < cursors('x').length; i++) {
    c.add('query.list-cursor', (m) => ({ method: 'GET', path: `/workspaces?cursor=${enc(cursors(m)[i])}`, expect: [400] }));
  }
}

// ---------------------------------------------------------------------------------------------------
// Corpus: org import (dir values, inline templates, on-disk trees)

function dirValueCases(c: Corpus): void {
  const dirs = (m: string): unknown[] => [
    '../', '..', `../../etc/${m}`, '/etc', `/etc/passwd${m}`, `a/../../${m}`, `a\u0000b${m}`, `%2e%2e%2f${m}`, `%2e%2e/%2e%2e/etc/${m}`, `..%2f..%2f${m}`,
    `${m}${'a'.repeat(301)}`, `${m}${'a'.repeat(290)}`, `${'a/'.repeat(9)}${m}`, '.', `./${m}`, `.${m}`, `${m}/`, `//etc/${m}`, `\\..\\..\\${m}`,
    `C:\\Windows\\${m}`, `file:///etc/${m}`, `http://evil/${m}`, `~root${m}`, `$HOME${m}`, `\${HOME}${m}`, `${m}\n`, ` ${m}`, `ünï${m}`, m,
    `${m}/../../x`, 'escape-link', 'dangling-link', 'loop-link', 'plain-file', 'fifo', '', `${m}\u202e`, `${m}/org.yaml`, `${m}\u3000`,
    1, null, true, [m], { dir: m }, 1e308, `${m}/${'b'.repeat(100)}/c`, `${'seg/'.repeat(8)}${m}`, `${m}%00`, `${m}\t`,
  ];
  const count = dirs('x').length;
  for (let i = 0; i < count; i++) {
    for (const mode of [undefined, 'reconcile']) {
      c.add('org.dir', (m) => ({ method: 'POST', path: '/org/import', body: j({ dir: dirs(m)[i], ...(mode ? { mode } : {}) }), expect: [400, 404] }));
    }
  }
  const shapes = (m: string): string[] => [
    j({}), j({ mode: m }), j({ dir: 'escape-link', template: { name: m } }), j({ dir: m, mode: 'delete' }), j({ template: { name: m }, mode: 'MERGE' }),
    j({ template: null, x: m }), j({ template: [m] }), j({ template: m }), j({ template: 1, x: m }), j({ dir: m, mode: null }), j([m]), 'null',
  ];
  for (let i = 0; i < shapes('x').length; i++) c.add('org.body-shape', (m) => ({ method: 'POST', path: '/org/import', body: shapes(m)[i], expect: [400] }));
}

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

function baseTemplate(m: string): { [k: string]: Json } {
  return {
    name: `f6 ${m}`,
    org_key: 'f6-bad-input',
    description: 'bad-input corpus',
    required_env: [SAFETY_ENV],
    defaults: { runtime: 'external', tier: 1 },
    workspaces: [
      { name: 'Lead', role: 'lead', children: [{ name: 'Dev', max_concurrent_tasks: 2, env: { A_B: 'x' } }] },
      { name: 'Ops', tier: 2, canvas: { x: 1, y: 2 }, schedules: [{ cron: '0 9 * * *', prompt: 'standup' }], plugins: ['p1'], required_env: [{ any_of: ['X_Y'] }] },
    ],
  };
}

async function inlineTemplateCases(c: Corpus): Promise<void> {
  const importInline = (template: unknown): string => j({ template });
  const inlineRejected = async (template: unknown) => (await templateFailure(() => parseOrgTemplate({ inline: template, env: {} }))) !== null;
  const chain = (depth: number, m: string): Json => {
    let node: { [k: string]: Json } = { name: `leaf ${m}` };
    for (let d = depth - 1; d > 0; d--) node = { name: `n${d}`, children: [node] };
    return node;
  };
  const fixed: Array<(m: string) => { [k: string]: Json }> = [
    () => ({ workspaces: [] }),
    (m) => ({ name: 1, x: m }),
    (m) => ({ name: '', x: m }),
    (m) => ({ name: ` \u3000 `, x: m }),
    (m) => ({ name: [m] }),
    (m) => ({ name: { v: m } }),
    (m) => ({ name: `${m}${'n'.repeat(201)}` }),
    (m) => ({ ...baseTemplate(m), workspaces: m }),
    (m) => ({ ...baseTemplate(m), workspaces: { a: m } }),
    (m) => ({ ...baseTemplate(m), workspaces: [1, m] }),
    (m) => ({ ...baseTemplate(m), workspaces: [null] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ role: m }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', tier: 11, role: m }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', tier: 1e308, role: m }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', tier: '1', role: m }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', max_concurrent_tasks: 1.5, role: m }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', canvas: { x: m, y: 1 } }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', schedules: [{ cron: `${m} * * *`, prompt: 'p' }] }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', required_env: [`lower_${m}`] }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', env: { [`bad-${m}`]: 'v' } }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', files_dir: `../../etc/${m}` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', files_dir: `/etc/${m}` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', workspace_dir: `\${F6_UNSET_VAR_${m}}/x` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', compute: `k8s-${m}` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', plugins: [`a b ${m}`] }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: m }, { name: m }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: `a${m}\u202e` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: `a${m}\u0085` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: `a\u2028${m}` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: `a${m}\u0000` }] }),
    (m) => ({ ...baseTemplate(m), name: `${m}\u2066` }),
    (m) => ({ ...baseTemplate(m), workspaces: Array.from({ length: 3000 }, (_, i) => ({ name: `w${i} ${m}` })) }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'root', children: Array.from({ length: 2001 }, (_, i) => ({ name: `c${i}${m}` })) }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [chain(40, m)] }),
    (m) => ({ ...baseTemplate(m), workspaces: [chain(33, m)] }),
    (m) => ({ '!include': `../../etc/passwd${m}` }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ '!include': `../../etc/passwd${m}` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', children: [{ '!include': `/etc/passwd${m}` }] }] }),
    (m) => ({ ...baseTemplate(m), defaults: { '!include': `defaults-${m}.yaml` } }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: { '!include': `name-${m}.txt` } }] }),
    // Every !external here is refused by the ref parser (query, credentials, http, bad ref), before any
    // resolver could fetch it: F6 never makes network calls, whether or not the API can resolve externals.
    (m) => ({ ...baseTemplate(m), workspaces: [{ '!external': { repo: `https://github.com/${m}/x?ref=1`, ref: 'main', path: 'org.yaml' } }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ '!external': { repo: `https://user:pw@github.com/${m}/x`, ref: 'main', path: 'org.yaml' } }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ '!external': { repo: `http://github.com/${m}/x`, ref: 'main', path: 'org.yaml' } }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ '!external': { repo: `https://github.com/${m}/x`, ref: '-main', path: 'org.yaml' } }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ '!external': { repo: `https://evil.example/${m}`, ref: '--upload-pack=x', path: '../../etc' } }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ '!external': `git@github.com:${m}` }] }),
    (m) => ({ ...baseTemplate(m), required_env: [`bad ${m}`] }),
    (m) => ({ ...baseTemplate(m), required_env: [{ any_of: [] }], x: m }),
    (m) => ({ ...baseTemplate(m), defaults: { name: 'x', tier: -1, role: m } }),
    (m) => ({ ...baseTemplate(m), defaults: m }),
    (m) => ({ ...baseTemplate(m), description: `${m}${'d'.repeat(10_001)}` }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', prompts: [1, m] }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', spawning: `no${m}` }] }),
    (m) => ({ ...baseTemplate(m), workspaces: [{ name: 'a', env: Object.fromEntries(Array.from({ length: 257 }, (_, i) => [`E${i}`, m])) }] }),
    // org_key: a bounded slug (a-z, 0-9, . _ -, at most 64), or absent.
    (m) => ({ ...baseTemplate(m), org_key: m }),
    (m) => ({ ...baseTemplate(m), org_key: `org ${m}` }),
    (m) => ({ ...baseTemplate(m), org_key: `-${m.toLowerCase()}` }),
    (m) => ({ ...baseTemplate(m), org_key: `${m.toLowerCase()}${'k'.repeat(64)}` }),
    (m) => ({ ...baseTemplate(m), org_key: `${m.toLowerCase()}/../x` }),
    (m) => ({ ...baseTemplate(m), org_key: `${m.toLowerCase()}\u0000` }),
    (m) => ({ ...baseTemplate(m), org_key: `${m.toLowerCase()}\u202e` }),
    (m) => ({ ...baseTemplate(m), org_key: '', x: m }),
    (m) => ({ ...baseTemplate(m), org_key: 7, x: m }),
    (m) => ({ ...baseTemplate(m), org_key: [m.toLowerCase()] }),
    (m) => ({ ...baseTemplate(m), org_key: { v: m } }),
  ];
  for (const make of fixed) {
    await c.addAsync('org.inline-fixed', async (m) => {
      const t = make(m);
      return (await inlineRejected(t)) ? { method: 'POST', path: '/org/import', body: importInline(t), expect: [400] } : null;
    });
  }
  // Children nested thousands of levels deep, as raw JSON (JSON.stringify itself would overflow the stack).
  for (const depth of [2000, 10_000]) {
    await c.addAsync('org.inline-deep', async (m) => {
      const workspaces = `[${'{"name":"n","children":['.repeat(depth)}{"name":"leaf ${m}"}${']}'.repeat(depth)}]`;
      const template = `{"name":"f6 ${m}","required_env":["${SAFETY_ENV}"],"workspaces":${workspaces}}`;
      const rejected = await inlineRejected(JSON.parse(template) as unknown);
      return rejected ? { method: 'POST', path: '/org/import', body: `{"template":${template}}`, expect: [400] } : null;
    });
  }
  // A deeply nested inline value (raw JSON, 10k levels) in several places.
  for (const where of ['description', 'defaults', 'workspaces', 'x']) {
    c.add('org.inline-deep', (m) => ({
      method: 'POST',
      path: '/org/import',
      body: `{"template":{"name":"f6 ${m}","required_env":["${SAFETY_ENV}"],"${where}":${'{"a":['.repeat(10_000)}"${m}"${']}'.repeat(10_000)}}}`,
      expect: [400],
    }));
  }
  // Seeded mutations of a valid template: one node replaced by a bad value.
  const BAD: Array<(m: string) => Json> = [
    () => null, () => 1e308, () => -1, () => true, (m) => m, (m) => [m], (m) => ({ v: m }), () => '', (m) => ({ '!include': `../${m}` }),
    (m) => `${m}\u0000`, (m) => `${m}\u202e`, () => [], () => ({}), (m) => `${m}${'z'.repeat(70_000)}`, () => 1.5, () => 11,
  ];
  const paths = (t: Json, prefix: Array<string | number> = []): Array<Array<string | number>> => {
    const out: Array<Array<string | number>> = [prefix];
    if (Array.isArray(t)) t.forEach((v, i) => out.push(...paths(v, [...prefix, i])));
    else if (t && typeof t === 'object') for (const [k, v] of Object.entries(t)) out.push(...paths(v, [...prefix, k]));
    return out;
  };
  const setAt = (t: Json, path: Array<string | number>, value: Json): Json => {
    if (path.length === 0) return value;
    const [head, ...rest] = path;
    if (Array.isArray(t)) return t.map((v, i) => (i === head ? setAt(v, rest, value) : v));
    if (t && typeof t === 'object') return { ...t, [head]: setAt(t[String(head)], rest, value) };
    return t;
  };
  for (let i = 0; i < 160; i++) {
    await c.addAsync('org.inline-mutated', async (m) => {
      const base = baseTemplate(m);
      const all = paths(base).filter((p) => p.length > 0 && !(p.length === 1 && p[0] === 'required_env') && !(p[0] === 'required_env' && p.length === 2));
      const target = pick(all);
      const mutated = setAt(base, target, pick(BAD)(m));
      return (await inlineRejected(mutated)) ? { method: 'POST', path: '/org/import', body: importInline(mutated), expect: [400] } : null;
    });
  }
}

interface DiskTemplate {
  files?: Record<string, string | Buffer>;
  links?: Record<string, string>;
  fifos?: string[];
  dirs?: string[];
  expect?: readonly number[];
}

async function diskTemplateCases(c: Corpus, root: string, defects: Corpus): Promise<void> {
  const safety = `required_env: [${SAFETY_ENV}]`;
  const head = (m: string) => `name: "f6 ${m}"\n${safety}\n`;
  const write = (dir: string, t: DiskTemplate): void => {
    mkdirSync(dir, { recursive: true });
    for (const [rel, content] of Object.entries(t.files ?? {})) {
      mkdirSync(dirname(join(dir, rel)), { recursive: true });
      writeFileSync(join(dir, rel), content);
    }
    for (const d of t.dirs ?? []) mkdirSync(join(dir, d), { recursive: true });
    for (const [rel, target] of Object.entries(t.links ?? {})) symlinkSync(target, join(dir, rel));
    for (const f of t.fifos ?? []) execFileSync('mkfifo', [join(dir, f)]);
  };
  let seq = 0;
  const add = async (category: string, make: (m: string) => DiskTemplate): Promise<void> => {
    const at = c.take();
    const name = `c${String(++seq).padStart(4, '0')}`;
    const dir = join(root, name);
    const t = make(at.marker);
    write(dir, t);
    // The variables the server's templates may read (its config), not this process's environment.
    const failure = await templateFailure(() => parseOrgTemplate({ source: diskFileSource(dir), env: loadConfig(F6_TEMPLATE_ENV).templateVars }));
    if (!failure) {
      c.skippedValid++;
      return;
    }
    // org.yaml is there: any rejection is a template error (400); a missing org.yaml is the 404.
    const spec: CaseSpec = { method: 'POST', path: '/org/import', body: j({ dir: name }), expect: t.expect ?? [400] };
    if (t.files?.['org.yaml'] !== undefined && failure.code === 'file_not_found') defects.push(`defect.${category}`, at, spec);
    else c.push(category, at, spec);
  };

  // YAML bombs: billion laughs over sequences and mappings, quadratic blow-up, bad aliases.
  for (const width of [2, 3, 5, 9, 10, 20, 50]) {
    for (const depth of [3, 5, 9, 12]) {
      await add('disk.yaml-bomb', (m) => {
        const lines = [head(m), `l0: &l0 ["${m}", "lol"]`];
        for (let d = 1; d <= depth; d++) lines.push(`l${d}: &l${d} [${Array(width).fill(`*l${d - 1}`).join(', ')}]`);
        lines.push(`workspaces: *l${depth}`);
        return { files: { 'org.yaml': lines.join('\n') + '\n' } };
      });
    }
  }
  for (const width of [5, 10, 30]) {
    await add('disk.yaml-bomb-map', (m) => {
      const lines = [head(m), `a0: &a0 {v: "${m}"}`];
      for (let d = 1; d <= 8; d++) lines.push(`a${d}: &a${d} {${Array.from({ length: width }, (_, k) => `k${k}: *a${d - 1}`).join(', ')}}`);
      lines.push('workspaces: [*a8]');
      return { files: { 'org.yaml': lines.join('\n') + '\n' } };
    });
  }
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}s: &s "${'x'.repeat(200_000)}"\nworkspaces: [${Array(99).fill('*s').join(', ')}]\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}s: &s [${Array(5000).fill(`"${m}"`).join(',')}]\nworkspaces: [${Array(60).fill('{name: x, prompts: *s}').join(', ')}]\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces: [${Array(500).fill('*a').join(', ')}]\nx: &a {name: "${m}"}\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces: *undefined_anchor_${m}\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}a: &a [*a, "${m}"]\nworkspaces: *a\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}a: &a\n  - name: "${m}"\n  - *a\nworkspaces: *a\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}${Array.from({ length: 150 }, (_, i) => `a${i}: &a${i} "${m}"`).join('\n')}\nworkspaces: [${Array.from({ length: 150 }, (_, i) => `*a${i}`).join(', ')}]\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces: ${'['.repeat(10_000)}"${m}"${']'.repeat(10_000)}\n` } }));
  await add('disk.yaml-bomb', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces: ${'{a: '.repeat(5_000)}"${m}"${'}'.repeat(5_000)}\n` } }));
  await add('disk.yaml-bomb', (m) => {
    let yaml = `${head(m)}workspaces:\n`;
    for (let d = 0; d < 300; d++) yaml += `${'  '.repeat(d)}- name: "n${d} ${m}"\n${'  '.repeat(d)}  children:\n`;
    return { files: { 'org.yaml': yaml } };
  });

  // Include escapes, placed at the root, in the workspace list, in children, in defaults and in a name.
  const targets = (m: string): string[] => [
    '../../etc/passwd', '/etc/passwd', `../c0001/org.yaml`, 'passwd-link', `sub/../../${m}`, '....//....//etc/passwd', `%2e%2e/%2e%2e/etc/passwd${m}`,
    '..\\..\\etc\\passwd', '"\\0"', 'C:/Windows/win.ini', '""', `${'a/'.repeat(600)}${m}`, `${m}/../../../etc/passwd`, '"\\u202e../x"', 'sub',
    'dir-link/passwd', `"x\\n${m}"`, '~/.ssh/id_rsa', '/proc/self/environ', '../../../../../../../../proc/self/environ',
  ];
  const placements: Array<(m: string, inc: string) => string> = [
    (_m, inc) => `!include ${inc}\n`,
    (m, inc) => `${head(m)}workspaces:\n  - !include ${inc}\n`,
    (m, inc) => `${head(m)}workspaces:\n  - name: a\n    children:\n      - !include ${inc}\n`,
    (m, inc) => `${head(m)}defaults: !include ${inc}\n`,
    (m, inc) => `${head(m)}workspaces:\n  - name: !include ${inc}\n`,
  ];
  const tCount = targets('x').length;
  for (let i = 0; i < tCount; i++) {
    for (const place of placements) {
      await add('disk.include-escape', (m) => ({
        files: { 'org.yaml': place(m, targets(m)[i]), 'sub/inner.yaml': `name: "${m}"\n` },
        links: { 'passwd-link': '/etc/passwd', 'dir-link': '/etc' },
      }));
    }
  }
  // Include cycles and depth.
  await add('disk.include-cycle', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include org.yaml\n` } }));
  await add('disk.include-cycle', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include a.yaml\n`, 'a.yaml': 'name: a\nchildren:\n  - !include b.yaml\n', 'b.yaml': 'name: b\nchildren:\n  - !include a.yaml\n' } }));
  await add('disk.include-cycle', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include a.yaml\n`, 'a.yaml': '!include b.yaml\n', 'b.yaml': '!include c.yaml\n', 'c.yaml': '!include a.yaml\n' } }));
  await add('disk.include-cycle', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include ./sub/../org.yaml\n`, 'sub/x': '' } }));
  await add('disk.include-cycle', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include self-link\n` }, links: { 'self-link': 'org.yaml' } }));
  await add('disk.include-cycle', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include loop-a\n` }, links: { 'loop-a': 'loop-b', 'loop-b': 'loop-a' } }));
  for (const depth of [18, 40]) {
    await add('disk.include-depth', (m) => {
      const files: Record<string, string> = { 'org.yaml': `${head(m)}workspaces:\n  - !include d1.yaml\n` };
      for (let d = 1; d < depth; d++) files[`d${d}.yaml`] = `name: d${d}\nchildren:\n  - !include d${d + 1}.yaml\n`;
      files[`d${depth}.yaml`] = `name: "${m}"\n`;
      return { files };
    });
  }
  // Unknown and dangerous tags.
  for (const tag of [
    '!inclde x.yaml', '!!binary aGVsbG8=', '!!set {a, b}', '!!timestamp 2001-12-14', '!!python/object:os.system ["id"]', '!ruby/object:Gem::Installer {}',
    "!<tag:yaml.org,2002:js/function> 'function(){ return 1 }'", '!external {repo: "https://github.com/a/b#frag", ref: main, path: org.yaml}', '!external {repo: "https://github.com/a/b", ref: "..", path: x}', '!external x',
    '!include {a: 1}', '!include [a, b]', '!!js/regexp /x/', '!!omap [a: 1]', '!ZZ x', '!!str', '!<!include> ../../etc/passwd', '!!merge <<',
  ]) {
    await add('disk.unknown-tag', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: "${m}"\n    role: ${tag.replace('ZZ', m)}\n` } }));
  }
  await add('disk.unknown-tag', (m) => ({ files: { 'org.yaml': `%TAG ! tag:evil.example,2000:\n---\n${head(m)}workspaces: !x [a]\n` } }));
  await add('disk.unknown-tag', (m) => ({ files: { 'org.yaml': `%YAML 1.1\n---\n${head(m)}workspaces: [{name: a, spawning: yes}, {name: "${m}", tier: 0o17}]\n` } }));
  // Tabs, garbage, structure errors.
  const garbage: Array<(m: string) => string | Buffer> = [
    (m) => `\tname: "${m}"\n${safety}\n`, (m) => `${head(m)}workspaces:\n\t- name: a\n`, (m) => `${head(m)}workspaces: [\n`, (m) => `${head(m)}workspaces: {{{{\n`,
    (m) => `: : : ${m}\n`, (m) => `${head(m)}---\nname: other\n`, (m) => `${head(m)}name: dup\n`, (m) => `${head(m)}workspaces:\n  - name: a\n   - name: b\n`,
    (m) => `${head(m)}workspaces: "unterminated ${m}\n`, (m) => `${head(m)}workspaces: |\n${m}\n`, (m) => `\u0000${head(m)}`, (m) => `${head(m)}\u0000\n`,
    (m) => `${head(m)}`.replace(/\n/g, '\r'), (m) => `${head(m)}workspaces: [a\u0007b, "${m}"]\n`, (m) => `[${m}]\n`, (m) => `"${m}"\n`, () => '',
    () => '# only a comment\n', () => '---\n', () => '...\n', () => '~\n', (m) => `${m}\n`, () => '- - - -\n', (m) => `? [${m}]\n: x\n`,
    (m) => `${head(m)}? complex key\n: value\nworkspaces: 1\n`, (m) => `${head(m)}<<: {workspaces: x}\nworkspaces: "${m}"\n`, (m) => `{"name": "${m}", "workspaces": 1, }\n`,
    (m) => `${head(m)}workspaces:\n  - name: a\n    name: "${m}"\n`, (m) => `${head(m)}workspaces: &x\n  - *x\n`,
  ];
  for (const make of garbage) await add('disk.garbage', (m) => ({ files: { 'org.yaml': make(m) } }));
  for (let i = 0; i < 40; i++) {
    await add('disk.random-bytes', (m) => {
      const len = 10 + randInt(2000);
      const printable = rng() < 0.5;
      const bytes = Buffer.alloc(len);
      const special = Buffer.from(':-[]{}&*!|>\'"%@`#,?\n\t ');
      for (let k = 0; k < len; k++) bytes[k] = printable ? (rng() < 0.3 ? special[randInt(special.length)] : 32 + randInt(95)) : randInt(256);
      return { files: { 'org.yaml': Buffer.concat([Buffer.from(`# ${m}\n`), bytes]) } };
    });
  }
  // Sizes: over the per-file limit, over the total limit through includes.
  await add('disk.size', (m) => ({ files: { 'org.yaml': `# ${m}\n${'a'.repeat(2 * 1024 * 1024)}` } }));
  await add('disk.size', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n${'  - name: w\n    role: r\n'.repeat(90_000)}` } }));
  await add('disk.size', (m) => ({ files: { 'org.yaml': `${head(m)}description: "${'d'.repeat(256 * 1024)}"\n` } }));
  await add('disk.size', (m) => ({ files: { 'org.yaml': `${head(m)}${'#'.repeat(256 * 1024 - head(m).length + 1)}` } }));
  await add('disk.size', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include big.yaml\n`, 'big.yaml': `name: "${m}"\nrole: "${'r'.repeat(2 * 1024 * 1024)}"\n` } }));
  await add('disk.size', (m) => {
    const files: Record<string, string> = { 'org.yaml': `${head(m)}workspaces:\n${Array.from({ length: 6 }, (_, i) => `  - !include p${i}.yaml\n`).join('')}` };
    for (let i = 0; i < 6; i++) files[`p${i}.yaml`] = `name: p${i}\nrole: "${'r'.repeat(250 * 1024)}"\n`;
    return { files };
  });
  await add('disk.size', (m) => {
    const files: Record<string, string> = { 'org.yaml': `${head(m)}workspaces:\n${Array.from({ length: 12 }, () => '  - !include same.yaml\n').join('')}` };
    files['same.yaml'] = `name: same\nrole: "${'r'.repeat(200 * 1024)}"\n`;
    return { files };
  });
  // Invalid UTF-8 that also breaks the document (the case where only a scalar carries it is a known defect below).
  const badBytes = [[0xff], [0xfe, 0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0xe2, 0x82], [0x80], [0xf8, 0x88, 0x80, 0x80, 0x80]];
  for (const bytes of badBytes) {
    await add('disk.invalid-utf8', (m) => ({ files: { 'org.yaml': Buffer.concat([Buffer.from(`${head(m)}workspaces: [`), Buffer.from(bytes), Buffer.from('\n')]) } }));
    await add('disk.invalid-utf8', (m) => ({ files: { 'org.yaml': Buffer.concat([Buffer.from(head(m)), Buffer.from(bytes), Buffer.from(`: [${m}\n`)]) } }));
    await add('disk.invalid-utf8', (m) => ({ files: { 'org.yaml': Buffer.concat([Buffer.from(`${head(m)}workspaces:\n  - name: a\n    tier: `), Buffer.from(bytes), Buffer.from('\n')]) } }));
  }
  await add('disk.invalid-utf8', (m) => ({ files: { 'org.yaml': Buffer.concat([Buffer.from([0xff, 0xfe]), Buffer.from(`${head(m)}workspaces: 1\n`, 'utf16le')]) } }));
  await add('disk.invalid-utf8', (m) => ({ files: { 'org.yaml': Buffer.concat([Buffer.from([0, 0, 0xfe, 0xff]), Buffer.from(`${head(m)}workspaces: 1\n`, 'utf16le')]) } }));
  // Unicode names the template rules refuse.
  for (const ch of ['\\u202e', '\\u2066', '\\u0085', '\\u2028', '\\u0000', '\\u001b[31m', '\\u009b', '\\u2029', '\\u202a']) {
    await add('disk.name-unicode', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: "a${ch}${m}"\n` } }));
    await add('disk.name-unicode', (m) => ({ files: { 'org.yaml': `name: "org${ch}${m}"\n${safety}\n` } }));
  }
  // Numbers and types in YAML.
  for (const v of ['1e308', '1e400', '.inf', '-.inf', '.nan', '0x7fffffffffffffff', '99999999999999999999999', '-1', '1.5', '"1"', '[1]', '{a: 1}', 'true', '0o777', '11']) {
    await add('disk.numbers', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: "${m}"\n    tier: ${v}\n` } }));
    await add('disk.numbers', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: "${m}"\n    max_concurrent_tasks: ${v}\n    canvas: {x: ${v}, y: "${m}"}\n` } }));
  }
  for (const v of ['123', '1e308', 'true', 'null', '[a]', '{a: 1}', '""', '"   "', '.nan', '!!null ""']) {
    await add('disk.name-type', (m) => ({ files: { 'org.yaml': `name: ${v}\n${safety}\nx: "${m}"\n` } }));
  }
  // Tree shape.
  await add('disk.tree', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n${Array.from({ length: 3000 }, (_, i) => `  - name: w${i}\n`).join('')}` } }));
  await add('disk.tree', (m) => {
    let yaml = `${head(m)}workspaces:\n`;
    for (let d = 0; d < 40; d++) yaml += `${'    '.repeat(d)}  - name: "n${d}"\n${'    '.repeat(d)}    children:\n`;
    return { files: { 'org.yaml': `${yaml}${'    '.repeat(40)}  - name: "${m}"\n` } };
  });
  await add('disk.tree', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: same\n  - name: same\n  - name: "${m}"\n` } }));
  await add('disk.tree', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: a\n    files_dir: ../../etc\n    role: "${m}"\n` } }));
  await add('disk.tree', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: a\n    files_dir: escape\n    role: "${m}"\n` }, links: { escape: '/etc' } }));
  await add('disk.tree', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: a\n    workspace_dir: "\${F6_NOT_SET_${m}}/w"\n` } }));
  // Template variables: only TEMPLATE_VAR_* and TEMPLATE_VARS names expand; configuration, credentials
  // and the rest of the environment fail like an unset name, wherever the reference sits.
  const forbiddenVars = [
    'SECRETS_KEY', 'ADMIN_TOKEN', 'TEMPLATE_GIT_TOKEN', 'DATABASE_URL', 'AWS_SECRET_ACCESS_KEY', 'AWS_ACCESS_KEY_ID', 'TEMPORAL_ADDRESS',
    'PATH', 'HOME', 'PWD', 'TEMPLATE_VARS', 'TEMPLATE_VAR_', 'F6_UNLISTED', 'secrets_key', '__proto__', 'constructor', 'TEMPLATE_VAR_F6_NOT_SET',
  ];
  for (const name of forbiddenVars) {
    await add('disk.template-var', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: "${m}"\n    workspace_dir: "/w/\${${name}}"\n` } }));
    await add('disk.template-var', (m) => ({ files: { 'org.yaml': `${head(m)}defaults:\n  workspace_dir: "\${TEMPLATE_VAR_F6_OK}/\${${name}}/${m}"\nworkspaces:\n  - name: a\n` } }));
    await add('disk.template-var', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include team.yaml\n`, 'team.yaml': `name: "${m}"\nworkspace_dir: "\${${name}}"\n` } }));
  }
  for (const text of ['\${\${SECRETS_KEY}}', '\${SECRETS_KEY', '\$\${ADMIN_TOKEN}', '\${ SECRETS_KEY }', '\${SECRETS_KEY:-x}', '\${TEMPLATE_VAR_F6_OK}\${DATABASE_URL}', '\${TEMPLATE_VAR_F6_OK']) {
    await add('disk.template-var', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - name: "${m}"\n    workspace_dir: "${text}/${m}"\n` } }));
  }
  // Special files.
  await add('disk.special', () => ({ dirs: ['empty'], files: {}, expect: [404] }));
  await add('disk.special', () => ({ dirs: ['org.yaml'], expect: [404] }));
  await add('disk.special', () => ({ fifos: ['org.yaml'], expect: [404] }));
  await add('disk.special', () => ({ links: { 'org.yaml': '/etc/passwd' }, expect: [400] }));
  await add('disk.special', () => ({ links: { 'org.yaml': '/nonexistent/f6' }, expect: [404] }));
  await add('disk.special', () => ({ links: { 'org.yaml': 'org.yaml' }, expect: [404] }));
  await add('disk.special', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include pipe\n` }, fifos: ['pipe'] }));
  await add('disk.special', (m) => ({ files: { 'org.yaml': `${head(m)}workspaces:\n  - !include missing-${m}.yaml\n` } }));
}

function oversizedCases(c: Corpus): void {
  const MiB = 1024 * 1024;
  const targets: Array<{ method: Method; path: string; auth?: string | null; unauthorized?: boolean }> = [
    { method: 'POST', path: '/workspaces' },
    { method: 'POST', path: '/org/import' },
    { method: 'POST', path: '/registry/register', auth: null },
    { method: 'POST', path: '/registry/heartbeat', auth: 'Bearer nope' },
    { method: 'PUT', path: '/admin/secrets/F6_BIG' },
    { method: 'PUT', path: `/workspaces/${UNKNOWN_ID}/secrets/F6_BIG` },
    { method: 'POST', path: `/workspaces/${UNKNOWN_ID}/restart` },
    // Admin routes check the token before reading the body: 401, never 413/415, for a caller without it.
    { method: 'POST', path: '/workspaces', auth: 'Bearer wrong', unauthorized: true },
    { method: 'POST', path: '/org/import', auth: null, unauthorized: true },
    { method: 'PUT', path: '/admin/secrets/F6_BIG', auth: `Bearer ${ADMIN_TOKEN}x`, unauthorized: true },
  ];
  for (const t of targets) {
    const refused = (statuses: number[]) => (t.unauthorized ? [401] : statuses);
    for (const size of [MiB + 1, 2 * MiB, 8 * MiB]) {
      c.add('oversized', (m) => {
        const prefix = `{"name":"${m}","role":"`;
        const body = prefix + 'r'.repeat(size - prefix.length - 2) + '"}';
        return { method: t.method, path: t.path, body, auth: t.auth, expect: refused([413]) };
      });
    }
    c.add('oversized.chunked', (m) => ({ method: t.method, path: t.path, body: `{"value":"${m}${'v'.repeat(3 * MiB)}"}`, chunked: true, auth: t.auth, expect: refused([413]) }));
    c.add('oversized.garbage', (m) => ({ method: t.method, path: t.path, body: `${m}${'\u0000{['.repeat(MiB)}`, auth: t.auth, expect: refused([413]) }));
    c.add('oversized.wrong-type', (m) => ({ method: t.method, path: t.path, body: `${m}${'x'.repeat(2 * MiB)}`, contentType: 'text/plain', auth: t.auth, expect: refused([413, 415]) }));
  }
  // Without the admin token, a malformed, mistyped or invalid body is still just a 401.
  const writes: Array<{ method: Method; path: string }> = [
    { method: 'POST', path: '/workspaces' },
    { method: 'POST', path: '/org/import' },
    { method: 'PUT', path: '/admin/secrets/F6_AUTH' },
    { method: 'PUT', path: `/workspaces/${UNKNOWN_ID}/secrets/F6_AUTH` },
    { method: 'POST', path: `/workspaces/${UNKNOWN_ID}/restart` },
    { method: 'PATCH', path: `/workspaces/${UNKNOWN_ID}` },
    { method: 'PATCH', path: `/workspaces/${UNKNOWN_ID}/budget` },
    { method: 'POST', path: `/workspaces/${UNKNOWN_ID}/tokens` },
  ];
  for (const w of writes) {
    for (const auth of [null, 'Bearer wrong', `Bearer ${ADMIN_TOKEN}x`]) {
      c.add('admin.auth-first', (m) => ({ method: w.method, path: w.path, body: `{"name": "${m}"`, auth, expect: [401] }));
      c.add('admin.auth-first', (m) => ({ method: w.method, path: w.path, body: `name=${m}`, contentType: 'text/plain', auth, expect: [401] }));
      c.add('admin.auth-first', (m) => ({ method: w.method, path: w.path, body: j({ name: 5, value: 7, x: m }), auth, expect: [401] }));
      c.add('admin.auth-first', (m) => ({ method: w.method, path: w.path, body: Buffer.from([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), auth, expect: [401] }));
    }
  }
  // Exactly at the limit is allowed through the parser (and then refused as invalid).
  c.add('oversized.boundary', (m) => {
    const prefix = `{"name":1,"x":"${m}`;
    return { method: 'POST', path: '/workspaces', body: prefix + 'x'.repeat(MiB - prefix.length - 2) + '"}', expect: [400] };
  });
  // Oversized URL: Node's HTTP parser refuses the headers (431).
  for (const len of [20_000, 64_000]) {
    c.add('oversized.url', (m) => ({ method: 'GET', path: `/workspaces?limit=${m}${'9'.repeat(len)}`, expect: [431] }));
  }
}

// ---------------------------------------------------------------------------------------------------
// Regression groups: inputs that exposed defects when F6 was written (all fixed)

function knownDefectCases(): Record<string, Case[]> {
  const c = new Corpus('ZZBUG');
  const groups: Record<string, Case[]> = {};
  const group = (name: string, fill: () => void) => {
    const start = c.cases.length;
    fill();
    groups[name] = c.cases.slice(start);
  };
  group('path echo in Fastify bad-URL / max-param-length answers', () => {
    const probes: Array<{ method: Method; path: (m: string) => string; body?: string }> = [
      { method: 'GET', path: (m) => `/workspaces/${m}%E0%A4%A` },
      { method: 'POST', path: (m) => `/workspaces/%ZZ${m}/restart`, body: '{}' },
      { method: 'DELETE', path: (m) => `/workspaces/${m}%` },
      { method: 'POST', path: (m) => `/registry/${m}%C0`, body: '{}' },
      { method: 'GET', path: (m) => `/workspaces/${m}${'a'.repeat(200)}` },
      { method: 'POST', path: (m) => `/workspaces/${m}${'a'.repeat(200)}/restart`, body: '{}' },
      { method: 'PUT', path: (m) => `/admin/secrets/${m}${'A'.repeat(200)}`, body: '{"value":"x"}' },
      { method: 'GET', path: (m) => `/org/imports/${m}${'0'.repeat(200)}` },
    ];
    for (const probe of probes) {
      c.add('defect.path-echo', (m) => ({ method: probe.method, path: probe.path(m), body: probe.body, expect: [400, 404, 414] }));
    }
  });
  group('identifier-shaped record keys echoed in details[].field', () => {
    for (const body of [(m: string) => ({ secrets: { [m]: 1 } }), (m: string) => ({ secrets: { [`${m}_lower`]: 'v' } }), (m: string) => ({ secrets: { [m]: 'v'.repeat(70_000) } })]) {
      c.add('defect.record-key-echo', (m) => ({ method: 'POST', path: '/workspaces', body: j({ name: 'f6', parent_id: SAFE_PARENT, ...body(m) }), expect: [400] }));
    }
  });
  group('names with C1 controls, line separators or bidi overrides accepted by POST /workspaces', () => {
    for (const ch of UNSAFE_NAME_CHARS) {
      c.add('defect.name-unsafe-chars', (m) => ({ method: 'POST', path: '/workspaces', body: j({ name: `f6 ${ch}${m}`, parent_id: SAFE_PARENT }), expect: [400] }));
    }
  });
  group('invalid UTF-8 in a JSON body silently replaced (U+FFFD) and accepted', () => {
    for (const bytes of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
      c.add('defect.json-invalid-utf8', () => ({
        method: 'POST',
        path: '/workspaces',
        body: Buffer.concat([Buffer.from('{"name":"f6 '), Buffer.from(bytes), Buffer.from(`","parent_id":"${SAFE_PARENT}"}`)]),
        expect: [400],
      }));
    }
  });
  return groups;
}

function knownDefectDiskCases(root: string): Case[] {
  // Invalid UTF-8 inside an otherwise valid org.yaml: decoded with U+FFFD, parsed, and (but for the
  // safety-net env requirement, which turns it into a 412) imported.
  const c = new Corpus('ZZBUGDISK');
  for (const bytes of [[0xff], [0xc0, 0xaf], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80]]) {
    c.add('defect.yaml-invalid-utf8', () => {
      const name = `bug-utf8-${c.cases.length}`;
      mkdirSync(join(root, name), { recursive: true });
      writeFileSync(join(root, name, 'org.yaml'), Buffer.concat([Buffer.from('name: "f6 '), Buffer.from(bytes), Buffer.from(`"\nrequired_env: [${SAFETY_ENV}]\n`)]));
      return { method: 'POST', path: '/org/import', body: j({ dir: name }), expect: [400] };
    });
  }
  return c.cases;
}

// ---------------------------------------------------------------------------------------------------

/** Variables templates may read on the F6 server, plus one the server has but does not expose. */
const F6_TEMPLATE_ENV = { TEMPLATE_VAR_F6_OK: '/srv/f6', TEMPLATE_VARS: 'F6_LISTED', F6_LISTED: '/srv/listed', F6_UNLISTED: '/srv/unlisted' };

const TABLES = ['workspaces', 'org_imports', 'org_import_items', 'global_secrets', 'workspace_secrets', 'workspace_auth_tokens', 'idempotency_keys'] as const;

let p: Platform;
let root: string;
let corpus: Corpus;
/** Disk templates whose org.yaml exists but names a missing/unreadable include (known defect). */
let includeDefects: Corpus;
let rowsBefore: Record<string, number>;

async function countRows(): Promise<Record<string, number>> {
  const out: Record<string, number> = {};
  for (const table of TABLES) {
    const { rows } = await p.clients.pool.query<{ n: string }>(`SELECT count(*)::text AS n FROM ${table}`);
    out[table] = Number(rows[0].n);
  }
  return out;
}

beforeAll(async () => {
  root = mkdtempSync(join(tmpdir(), 'f6-bad-input-'));
  // Fixtures the `dir` cases name.
  symlinkSync('/etc', join(root, 'escape-link'));
  symlinkSync('/nonexistent/f6', join(root, 'dangling-link'));
  symlinkSync(join(root, 'loop-link'), join(root, 'loop-link'));
  writeFileSync(join(root, 'plain-file'), 'name: x\n');
  execFileSync('mkfifo', [join(root, 'fifo')]);

  corpus = new Corpus('ZZMARK');
  workspaceCases(corpus);
  idAndQueryCases(corpus);
  importIdCases(corpus);
  registryCases(corpus);
  externalAgentCases(corpus);
  secretCases(corpus);
  idempotencyKeyCases(corpus);
  managementCases(corpus);
  dirValueCases(corpus);
  await inlineTemplateCases(corpus);
  includeDefects = new Corpus('ZZBUGINC');
  await diskTemplateCases(corpus, root, includeDefects);
  oversizedCases(corpus);

  p = await startPlatform({ env: { TEMPLATES_ROOT: root, ...F6_TEMPLATE_ENV } });
  rowsBefore = await countRows();
});

afterAll(async () => {
  await p?.close();
  if (root) rmSync(root, { recursive: true, force: true });
});

describe('F6: bad input', () => {
  it('answers every case of the corpus with a clear 4xx, never an echo, a trace or a 5xx', async () => {
    const cases = corpus.cases;
    expect(cases.length).toBeGreaterThanOrEqual(1000);
    const started = Date.now();
    const { failures, byStatus, byCategory } = await runCorpus(p.url, cases, [root, process.cwd(), p.config.SECRETS_KEY, ...Object.values(F6_TEMPLATE_ENV)]);
    const groups: Record<string, number> = {};
    for (const [category, n] of Object.entries(byCategory)) {
      const top = category.split('.')[0];
      groups[top] = (groups[top] ?? 0) + n;
    }
    console.log(
      `F6: ${cases.length} cases, ${failures.length} failures; by status ${JSON.stringify(byStatus)}\n` +
        `F6: by group ${JSON.stringify(groups)}\nF6: by category ${JSON.stringify(byCategory)}\n` +
        `F6: seed ${SEED.toString(16)}, ${corpus.skippedValid} generated inputs were valid and not sent, ${Date.now() - started} ms`,
    );
    expect(failures).toEqual([]);
  });

  it('the template listing survives the corpus tree', async () => {
    const res = await p.api<{ templates: Array<{ dir: string; error?: string }> }>('GET', '/org/templates');
    expect(res.status).toBe(200);
    expect(res.body.templates.length).toBeGreaterThan(100);
    const text = JSON.stringify(res.body);
    for (const re of STACK_PATTERNS) expect(text).not.toMatch(re);
    expect(text).not.toContain(root);
  });

  it('the server is still up and the corpus created no rows', async () => {
    const health = await p.api('GET', '/healthz', undefined, null);
    expect(health.status).toBe(200);
    expect(health.body).toEqual({ status: 'ok' });
    expect((await p.api('GET', '/workspaces?limit=1')).status).toBe(200);
    expect(await countRows()).toEqual(rowsBefore);
  });
});

// Each group below failed when F6 was written; they must keep passing
describe('F6: inputs that exposed defects (fixed; kept as regression cases)', () => {
  const groups = knownDefectCases();
  for (const [name, cases] of Object.entries(groups)) {
    it(name, async () => {
      const { failures } = await runCorpus(p.url, cases, [root], 5);
      if (failures.length) console.log(`F6 known defect "${name}": ${failures.length}/${cases.length}\n${failures.slice(0, 8).join('\n')}`);
      expect(failures).toEqual([]);
    });
  }
  it('invalid UTF-8 in an otherwise valid org.yaml is decoded with U+FFFD and accepted', async () => {
    const cases = knownDefectDiskCases(root);
    const { failures } = await runCorpus(p.url, cases, [root], 5);
    if (failures.length) console.log(`F6 known defect "yaml invalid utf-8": ${failures.length}/${cases.length}\n${failures.slice(0, 8).join('\n')}`);
    expect(failures).toEqual([]);
  });
  it('a missing or unreadable !include target answers 404 "template org.yaml not found" instead of a 400 template error', async () => {
    const cases = includeDefects.cases;
    const { failures } = await runCorpus(p.url, cases, [root], 5);
    if (failures.length) console.log(`F6 known defect "missing include": ${failures.length}/${cases.length}\n${failures.slice(0, 8).join('\n')}`);
    expect(failures).toEqual([]);
  });
  it('the known-defect inputs created no rows either', async () => {
    expect(await countRows()).toEqual(rowsBefore);
    expect((await p.api('GET', '/healthz', undefined, null)).status).toBe(200);
  });
});
