// Tells "Postgres cannot be reached" apart from every other failure, so the API answers 503
// `platform_unavailable` (SPEC-ADDENDUM A14.1) instead of an opaque 500, for the agent's token check
// and for every route that reads or writes rows. Only failures of the connection itself count: a
// query Postgres refuses (a constraint, a bad cast) is still a bug and still a 500.

/** SQLSTATEs of a server that is there but not serving: connection exceptions, shutdown, overload. */
const UNAVAILABLE_SQLSTATE = /^(08...|57P0[123]|53300)$/;
/** What node-postgres says when the connection drops or cannot be made in time. */
const PG_CONNECTION_MESSAGES = [
  'Connection terminated',
  'timeout exceeded when trying to connect',
  'Client has encountered a connection error and is not queryable',
  'Client was closed and is not queryable',
];
const NETWORK_CODES = new Set(['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN', 'EPIPE']);

interface ErrorShape {
  code?: unknown;
  severity?: unknown;
  message?: unknown;
  port?: unknown;
  hostname?: unknown;
  errors?: unknown;
  cause?: unknown;
}

/** The host and port of DATABASE_URL: a network error counts only if it is about that address. */
function databaseAddress(databaseUrl: string): { host: string; port: number } {
  try {
    const url = new URL(databaseUrl);
    return { host: url.hostname, port: url.port ? Number(url.port) : 5432 };
  } catch {
    return { host: '', port: 5432 };
  }
}

export function postgresUnavailableCheck(databaseUrl: string): (err: unknown) => boolean {
  const db = databaseAddress(databaseUrl);
  const check = (err: unknown, depth: number): boolean => {
    if (!err || typeof err !== 'object' || depth > 4) return false;
    const e = err as ErrorShape;
    // pg's DatabaseError carries a severity besides its SQLSTATE code.
    if (typeof e.code === 'string' && typeof e.severity === 'string' && UNAVAILABLE_SQLSTATE.test(e.code)) return true;
    if (typeof e.message === 'string' && PG_CONNECTION_MESSAGES.some((m) => (e.message as string).startsWith(m))) return true;
    if (typeof e.code === 'string' && NETWORK_CODES.has(e.code)) {
      if (e.port === db.port || (typeof e.hostname === 'string' && e.hostname === db.host)) return true;
    }
    // Happy-eyeballs connects report one error per address tried (AggregateError).
    if (Array.isArray(e.errors) && e.errors.some((inner) => check(inner, depth + 1))) return true;
    return check(e.cause, depth + 1);
  };
  return (err) => check(err, 0);
}
