// An HTTP proxy in front of a real server (moto) that injects faults on chosen requests: answer 503
// without forwarding, or forward and then answer 503 (the request took effect but the caller never
// heard: the case that makes retries dangerous without idempotency).
import { createServer, request, type IncomingMessage, type Server } from 'node:http';

export type Fault = 'pass' | 'fail' | 'forward-then-fail';

export interface FaultyProxy {
  url: string;
  /** Decides the fault per request from the EC2 Action in the body. */
  rule: (action: string) => Fault;
  calls: Array<{ action: string; fault: Fault }>;
  close(): Promise<void>;
}

const UNAVAILABLE = '<Response><Errors><Error><Code>ServiceUnavailable</Code><Message>injected</Message></Error></Errors></Response>';

export async function startFaultyProxy(target: string): Promise<FaultyProxy> {
  const upstream = new URL(target);
  const proxy: FaultyProxy = {
    url: '',
    rule: () => 'pass',
    calls: [],
    close: () => new Promise((r) => server.close(() => r())),
  };
  const server: Server = createServer((req: IncomingMessage, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks);
      const action = new URLSearchParams(body.toString('utf8')).get('Action') ?? 'unknown';
      const fault = proxy.rule(action);
      proxy.calls.push({ action, fault });
      const unavailable = () => {
        res.writeHead(503, { 'content-type': 'text/xml' });
        res.end(UNAVAILABLE);
      };
      if (fault === 'fail') return unavailable();
      const up = request(
        { host: upstream.hostname, port: upstream.port, method: req.method, path: req.url, headers: req.headers },
        (upRes) => {
          const upChunks: Buffer[] = [];
          upRes.on('data', (c: Buffer) => upChunks.push(c));
          upRes.on('end', () => {
            if (fault === 'forward-then-fail') return unavailable();
            res.writeHead(upRes.statusCode ?? 502, upRes.headers);
            res.end(Buffer.concat(upChunks));
          });
        },
      );
      up.on('error', () => unavailable());
      up.end(body);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  proxy.url = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  return proxy;
}
