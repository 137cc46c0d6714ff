// Hard bounds on what a template may cost to parse. A template tree comes from users (a directory they
// control, an API body, or a git repository), so every dimension that can grow is capped.

export const LIMITS = {
  maxFileBytes: 256 * 1024,
  maxTotalBytes: 1024 * 1024,
  /** Issue #19 B6: an org of 10,000 workspaces imports and deletes with bounded workflow payloads. */
  maxWorkspaces: 10_000,
  /** Levels of nesting in the workspace tree; the roots are level 1. */
  maxTreeDepth: 32,
  maxIncludeDepth: 16,
  maxExternalDepth: 4,
  /** yaml's own guard against alias fan-out (billion laughs). */
  maxAliasCount: 100,
  /**
   * Alias nodes per file. yaml resolves each alias by scanning every anchor and alias in the document,
   * so thousands of aliases cost quadratic time before maxAliasCount can say anything.
   */
  maxAliasNodes: 100,
  /** Values materialised after includes and aliases; bounds memory when shared subtrees are copied. */
  maxValues: 250_000,
  /** Nesting of any value (the workspace tree uses two levels per workspace). */
  maxValueNesting: 128,
  maxPathLength: 1024,
} as const;
