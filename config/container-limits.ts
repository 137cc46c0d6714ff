// Resource limits of workspace containers: a default each (CONTAINER_MEMORY_MB, CONTAINER_PIDS_LIMIT,
// CONTAINER_CPUS) and a per-runtime override named like WORKSPACE_IMAGE_<RUNTIME>
// (CONTAINER_MEMORY_MB_CLAUDE_CODE=4096). An agent runs whatever its model writes, so one workspace must
// not be able to take the host's memory, process table or CPUs from the others.

export interface ContainerLimits {
  memoryMb: number;
  pidsLimit: number;
  /** Fractional CPUs, e.g. 1.5. */
  cpus: number;
}

export const DEFAULT_CONTAINER_LIMITS: ContainerLimits = { memoryMb: 2048, pidsLimit: 512, cpus: 2 };

const SETTINGS = {
  CONTAINER_MEMORY_MB: { field: 'memoryMb', min: 64, max: 1024 * 1024, integer: true },
  CONTAINER_PIDS_LIMIT: { field: 'pidsLimit', min: 16, max: 1_000_000, integer: true },
  CONTAINER_CPUS: { field: 'cpus', min: 0.01, max: 1024, integer: false },
} as const;
type SettingName = keyof typeof SETTINGS;

export interface ContainerLimitConfig {
  defaults: ContainerLimits;
  /** Keyed by the runtime's env spelling (CLAUDE_CODE); only the fields an override sets. */
  byRuntime: Record<string, Partial<ContainerLimits>>;
}

function parseSetting(key: string, name: SettingName, raw: string): number {
  const { min, max, integer } = SETTINGS[name];
  const text = raw.trim();
  const value = Number(text);
  const valid = text !== '' && /^[0-9]+(\.[0-9]+)?$/.test(text) && value >= min && value <= max && (!integer || Number.isInteger(value));
  if (!valid) throw new Error(`invalid configuration: ${key}: expected ${integer ? 'an integer' : 'a number'} in [${min}, ${max}]`);
  return value;
}

/** Reads the defaults and every per-runtime override from the environment; a bad value fails start-up. */
export function parseContainerLimits(env: NodeJS.ProcessEnv): ContainerLimitConfig {
  const defaults: ContainerLimits = { ...DEFAULT_CONTAINER_LIMITS };
  const byRuntime: Record<string, Partial<ContainerLimits>> = {};
  for (const [key, raw] of Object.entries(env)) {
    if (raw === undefined || raw.trim() === '') continue;
    for (const name of Object.keys(SETTINGS) as SettingName[]) {
      const { field } = SETTINGS[name];
      if (key === name) defaults[field] = parseSetting(key, name, raw);
      else if (key.startsWith(`${name}_`)) {
        const runtime = key.slice(name.length + 1);
        if (!/^[A-Z0-9_]+$/.test(runtime)) throw new Error(`invalid configuration: ${name}_<RUNTIME>: runtime must be upper case with underscores`);
        (byRuntime[runtime] ??= {})[field] = parseSetting(key, name, raw);
      }
    }
  }
  return { defaults, byRuntime };
}

/** The limits for a runtime: its overrides over the defaults (dashes in the runtime as underscores). */
export function containerLimitsFor(config: ContainerLimitConfig, runtime: string): ContainerLimits {
  return { ...config.defaults, ...config.byRuntime[runtime.toUpperCase().replace(/-/g, '_')] };
}
