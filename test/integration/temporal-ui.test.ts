// Names in the Temporal UI (issue 18 part 4): every run about a workspace starts with a summary naming it
// and the WorkspaceName search attribute. A real browser (Debian's chromium, driven by playwright-core,
// both installed by setup) opens the test dev server's Web UI with a ProvisionPhase query and finds the
// stuck workspace's name; then it opens the API's /docs and finds the restart route.
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { chromium, type Browser, type Page } from 'playwright-core';
import { WorkspaceNameKey, WorkspaceIdKey } from '../../domain/search-attributes';
import { removeWorkspaceContainer } from './support/compute';
import { startPlatform, waitFor, type Platform } from './support/platform';

const CHROMIUM = '/usr/bin/chromium';

let p: Platform;
let browser: Browser;
const created: string[] = [];

beforeAll(async () => {
  if (!existsSync(CHROMIUM)) throw new Error(`${CHROMIUM} is missing: install Debian's chromium (npm run setup does) — this test never skips`);
  p = await startPlatform();
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true });
});
afterAll(async () => {
  await browser?.close();
  for (const id of created) await removeWorkspaceContainer(p, id).catch(() => undefined);
  for (const id of created) await p.api('DELETE', `/workspaces/${id}`).catch(() => undefined);
  await p?.close();
});

/** A Docker workspace whose agent never registers: its provision waits in awaiting_registration. */
async function stuckWorkspace(name: string): Promise<string> {
  const res = await p.api<{ workspace: { id: string } }>('POST', '/workspaces', {
    name,
    compute: 'docker',
    provision_timeout_seconds: 600,
    secrets: { AGENT_BEHAVIOUR: 'silent' },
  });
  expect(res.status).toBe(202); // a platform-run workspace answers before its compute is up
  const id = res.body.workspace.id;
  created.push(id);
  await waitFor('awaiting registration', async () => {
    const ws = await p.api<{ operation: { phase: string } | null }>('GET', `/workspaces/${id}`);
    return ws.body.operation?.phase === 'awaiting_registration';
  });
  return id;
}

async function pageText(page: Page): Promise<string> {
  return page.innerText('body');
}

describe('names in the Temporal UI', () => {
  let name: string;
  let id: string;

  beforeAll(async () => {
    name = `Stuck Browser ${randomUUID().slice(0, 8)}`;
    id = await stuckWorkspace(name);
  });

  it('the provision starts with a summary naming the workspace and the WorkspaceName search attribute', async () => {
    const description = await p.temporal.workflow.getHandle(`provision-${id}`).describe();
    expect(await description.staticSummary()).toBe(`provision ${name} (claude-code, docker)`);
    expect(description.typedSearchAttributes.get(WorkspaceNameKey)).toBe(name);
    expect(description.typedSearchAttributes.get(WorkspaceIdKey)).toBe(id);
  });

  it("the UI's list, filtered by ProvisionPhase, shows the stuck workspace's name", async () => {
    const page = await browser.newPage();
    // The list's columns as an operator sets them once (Configure Columns -> add WorkspaceName); the
    // UI keeps that choice in the browser's localStorage, per namespace.
    const columns = [
      { label: 'Status', pinned: true },
      { label: 'Workflow ID', pinned: true },
      { label: 'WorkspaceName', pinned: false },
      { label: 'Type', pinned: false },
      { label: 'Start', pinned: false },
    ];
    await page.addInitScript({
      content: `localStorage.setItem('namespace-workflow-table-columns', ${JSON.stringify(JSON.stringify({ [p.servers.temporalNamespace]: columns }))});`,
    });
    try {
      const query = 'ProvisionPhase = "awaiting_registration"';
      const url = `${p.servers.temporalUiUrl}/namespaces/${p.servers.temporalNamespace}/workflows?query=${encodeURIComponent(query)}`;
      // The UI reads visibility, which lags the upsert by a moment: reload until the run is listed.
      let seen = '';
      await waitFor(
        'the stuck provision listed in the Temporal UI with its name',
        async () => {
          await page.goto(url, { waitUntil: 'networkidle' });
          seen = await pageText(page);
          return seen.includes(name);
        },
        60_000,
        1000,
      ).catch((err: Error) => {
        throw new Error(`${err.message}; the page said:\n${seen.slice(0, 3000)}`);
      });
      // The row that names it is the stuck provision of that workspace.
      expect(seen).toContain(`provision-${id}`);
    } finally {
      await page.close();
    }
  });

  it('a restart names the workspace too, and so does the provision its cycle starts', async () => {
    const restart = await p.api('POST', `/workspaces/${id}/restart`, {});
    expect(restart.status).toBeLessThan(300);
    const described = await p.temporal.workflow.getHandle(`restart-${id}`).describe();
    expect(await described.staticSummary()).toBe(`restart ${name} (claude-code, docker)`);
    expect(described.typedSearchAttributes.get(WorkspaceNameKey)).toBe(name);
    // The cycle's provision is a child of the restart: its summary says so.
    await waitFor('the restart cycle provision named', async () => {
      const child = await p.temporal.workflow.getHandle(`provision-${id}`).describe();
      return (await child.staticSummary()) === `provision (restart) ${name} (claude-code, docker)`;
    });
  });

  it("the API's /docs page lists the restart route", async () => {
    const page = await browser.newPage();
    try {
      await page.goto(`${p.url}/docs`, { waitUntil: 'networkidle' });
      await waitFor('the restart route on /docs', async () => (await pageText(page)).includes('/workspaces/{id}/restart'), 30_000, 500);
    } finally {
      await page.close();
    }
  });
});
