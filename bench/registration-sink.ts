// Where B2's directly started agents call home. The platform's figure ends when the agent's register
// call has made the workspace online; the baseline's used to end earlier, when the agent had read its
// token (polled from the engine's logs, 20 times a second per container, which loaded the engine the
// baseline was timing). Here the same agent registers with a bare HTTP endpoint that only notes when
// each workspace id first called, so both sides end at the same moment of the agent's life.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';

export interface RegistrationSink {
  /** What PLATFORM_URL the agents get (host networking: loopback). */
  url: string;
  /** performance.now() of the workspace id's first register call, if it came. */
  registeredAt(workspaceId: string): number | undefined;
  close(): Promise<void>;
}

export async function startRegistrationSink(): Promise<RegistrationSink> {
  const seen = new Map<string, number>();
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      if (req.url === '/registry/register') {
        try {
          const id = (JSON.parse(Buffer.concat(chunks).toString('utf8')) as { workspace_id?: unknown }).workspace_id;
          if (typeof id === 'string' && !seen.has(id)) seen.set(id, performance.now());
        } catch {
          // not a register body: answered all the same
        }
      }
      res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    registeredAt: (id) => seen.get(id),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}
