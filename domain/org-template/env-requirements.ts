// What env vars an org template needs, deduplicated by SPEC §5's rules, and which of them are missing.
// Results hold names only; values never pass through here.
import type { EnvRequirement, OrgTemplate, TemplateWorkspace } from './schema';

export interface EnvRequirements {
  /** Strict names, sorted. */
  required: string[];
  /** Groups satisfied by any one member; members sorted, groups sorted. */
  requiredAnyOf: string[][];
  recommended: string[];
  recommendedAnyOf: string[][];
}

/**
 * Collects from the org level, `defaults` and every workspace in the tree (spawning or not: the
 * template's requirements do not change with which workspaces an import skips). Rules:
 * - groups are deduplicated by their sorted members (and members within a group deduplicated);
 * - a group that mentions a strictly required name is dropped, wherever in the tree that name is
 *   required (it is satisfied whenever the strict requirement is) - for recommended groups too;
 * - a recommended name or group that is already required is dropped from `recommended`, and a
 *   recommended group mentioning a recommended strict name is dropped the same way.
 */
export function collectEnvRequirements(template: OrgTemplate): EnvRequirements {
  const required: EnvRequirement[] = [...template.required_env, ...(template.defaults.required_env ?? [])];
  const recommended: EnvRequirement[] = [...template.recommended_env, ...(template.defaults.recommended_env ?? [])];
  const visit = (ws: TemplateWorkspace) => {
    required.push(...(ws.required_env ?? []));
    recommended.push(...(ws.recommended_env ?? []));
    ws.children.forEach(visit);
  };
  template.workspaces.forEach(visit);

  const req = split(required);
  const requiredAnyOf = req.groups.filter((g) => !g.some((n) => req.names.has(n)));
  const requiredGroupKeys = new Set(requiredAnyOf.map(groupKey));
  const rec = split(recommended);
  const recommendedNames = [...rec.names].filter((n) => !req.names.has(n));
  const recommendedAnyOf = rec.groups.filter(
    (g) => !g.some((n) => req.names.has(n) || rec.names.has(n)) && !requiredGroupKeys.has(groupKey(g)),
  );
  return {
    required: [...req.names].sort(),
    requiredAnyOf,
    recommended: recommendedNames.sort(),
    recommendedAnyOf,
  };
}

/**
 * The template listing's env lists (SPEC-ADDENDUM A13.1): the tree's union, deduplicated and sorted,
 * an entry required anywhere never also listed as recommended. A group renders as its members joined
 * with `|`, the way a 412's missing_env names it.
 */
export function templateEnvLists(template: OrgTemplate): { required_env: string[]; recommended_env: string[] } {
  const r = collectEnvRequirements(template);
  const render = (names: string[], groups: string[][]) => [...names, ...groups.map(groupKey)].sort();
  return { required_env: render(r.required, r.requiredAnyOf), recommended_env: render(r.recommended, r.recommendedAnyOf) };
}

/**
 * Required entries not satisfied by `available` (names with non-empty values; the caller decides).
 * A group renders as its members joined with `|`. Sorted.
 */
export function missingEnv(requirements: Pick<EnvRequirements, 'required' | 'requiredAnyOf'>, available: ReadonlySet<string>): string[] {
  const missing = requirements.required.filter((n) => !available.has(n));
  for (const group of requirements.requiredAnyOf) {
    if (!group.some((n) => available.has(n))) missing.push([...group].sort().join('|'));
  }
  return [...new Set(missing)].sort();
}

function split(entries: EnvRequirement[]): { names: Set<string>; groups: string[][] } {
  const names = new Set<string>();
  const groups = new Map<string, string[]>();
  for (const entry of entries) {
    if (typeof entry === 'string') {
      names.add(entry);
    } else {
      const members = [...new Set(entry.any_of)].sort();
      groups.set(groupKey(members), members);
    }
  }
  return { names, groups: [...groups.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)).map(([, g]) => g) };
}

function groupKey(members: string[]): string {
  return members.join('|');
}
