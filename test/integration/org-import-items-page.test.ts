// GET /org/imports/:id answers its items a page at a time: an org of 10,000 workspaces has 10,000
// items, and a client polling the import must not fetch them all on every poll.
import { startPlatform, waitFor, type Platform } from './support/platform';

let p: Platform;
beforeAll(async () => {
  p = await startPlatform();
});
afterAll(async () => {
  await p?.close();
});

type Page = { status: string; items: Array<{ key: string; depth: number }>; items_total: number; items_next: string | null };

describe('import items in pages', () => {
  it('pages follow (depth, key) order with items_next until null; every item exactly once; bad cursors are a 400', async () => {
    const children = Array.from({ length: 24 }, (_, i) => ({ name: `Paged Child ${String(i).padStart(2, '0')}`, runtime: 'external' }));
    const res = await p.api<{ import_id: string }>('POST', '/org/import', { template: { name: 'Paged Items', workspaces: [{ name: 'Paged Root', runtime: 'external', children }] } });
    expect(res.status).toBe(202);
    const id = res.body.import_id;
    await waitFor('import done', async () => (await p.api<Page>('GET', `/org/imports/${id}`)).body.status === 'completed', 120_000, 200);

    const whole = await p.api<Page>('GET', `/org/imports/${id}`);
    expect(whole.body).toMatchObject({ items_total: 25, items_next: null });
    expect(whole.body.items).toHaveLength(25);

    const seen: Array<{ key: string; depth: number }> = [];
    const sizes: number[] = [];
    let after: string | null = null;
    do {
      const page: { status: number; body: Page } = await p.api<Page>('GET', `/org/imports/${id}?items_limit=10${after ? `&items_after=${after}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.items_total).toBe(25);
      sizes.push(page.body.items.length);
      seen.push(...page.body.items);
      after = page.body.items_next;
    } while (after);
    expect(sizes).toEqual([10, 10, 5]);
    expect(seen.map((i) => i.key)).toEqual(whole.body.items.map((i) => i.key));

    const countsOnly = await p.api<Page>('GET', `/org/imports/${id}?items_limit=0`);
    expect(countsOnly.body).toMatchObject({ items: [], items_total: 25 });

    const forged = await p.api<{ code: string }>('GET', `/org/imports/${id}?items_after=${Buffer.from('not json').toString('base64url')}`);
    expect(forged.status).toBe(400);
    expect(forged.body.code).toBe('INVALID_CURSOR');
    expect((await p.api('GET', `/org/imports/${id}?items_after=%2F..%2F`)).status).toBe(400);
    expect((await p.api('GET', `/org/imports/${id}?items_limit=5001`)).status).toBe(400);
  });
});
