// What the Temporal UI's list and detail pages say about a run (issue 18): every workflow that is about
// a workspace starts with a static summary naming it ("provision Alice (claude-code, docker)") and the
// WorkspaceName search attribute; an import names its template and size. Pure: used by the API, the
// activities and the workflow code alike.

/** What names a workspace in a summary. */
export interface WorkspaceLabel {
  name: string;
  runtime: string;
  compute: string;
}

/** Names longer than this are cut in summaries (the UI's list shows one line). */
const SUMMARY_NAME_MAX = 100;
/** Keyword search attribute values are cut here (the server limits a Keyword's size). */
const KEYWORD_MAX = 255;

function cut(text: string, max: number): string {
  const chars = [...text];
  return chars.length > max ? `${chars.slice(0, max - 1).join('')}…` : text;
}

/** `<action> <name> (<runtime>, <compute>)`, e.g. `provision Alice (claude-code, docker)`. */
export function workspaceSummary(action: string, w: WorkspaceLabel): string {
  return `${action} ${cut(w.name, SUMMARY_NAME_MAX)} (${w.runtime}, ${w.compute})`;
}

/** `import <template> (<n> workspaces, <mode>)`. */
export function importSummary(templateName: string, size: number, mode: string): string {
  return `import ${cut(templateName, SUMMARY_NAME_MAX)} (${size} workspace${size === 1 ? '' : 's'}, ${mode})`;
}

/** The WorkspaceName search attribute's value: the name, cut to what a Keyword holds. */
export function workspaceNameAttribute(name: string): string {
  return cut(name, KEYWORD_MAX);
}
