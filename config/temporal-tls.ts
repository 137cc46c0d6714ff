// TLS for every Temporal connection the processes open (the API's client, the worker's native
// connection and its client). The frontend has no other authentication: in production it sits behind
// mTLS, and these files are the client's half of it.
import { readFileSync } from 'node:fs';
import type { TLSConfig } from '@temporalio/client';
import type { Config } from './index';

type TlsKeys = Pick<Config, 'TEMPORAL_TLS_CERT' | 'TEMPORAL_TLS_KEY' | 'TEMPORAL_TLS_CA' | 'TEMPORAL_TLS_SERVER_NAME'>;

/**
 * Undefined (plaintext) when no TLS variable is set. A client certificate needs its key and the other
 * way round: half a pair would silently fall back to server-only TLS, which the server then refuses
 * with a less useful message. Errors name the variable, never the file's content.
 */
export function temporalTls(config: TlsKeys, readFile: (path: string) => Buffer = readFileSync): TLSConfig | undefined {
  const { TEMPORAL_TLS_CERT: cert, TEMPORAL_TLS_KEY: key, TEMPORAL_TLS_CA: ca, TEMPORAL_TLS_SERVER_NAME: serverName } = config;
  if (!cert && !key && !ca && !serverName) return undefined;
  if (Boolean(cert) !== Boolean(key)) throw new Error('invalid configuration: TEMPORAL_TLS_CERT and TEMPORAL_TLS_KEY go together');
  const read = (name: string, path: string): Buffer => {
    try {
      return readFile(path);
    } catch {
      throw new Error(`invalid configuration: ${name}: file cannot be read`);
    }
  };
  return {
    ...(cert && key ? { clientCertPair: { crt: read('TEMPORAL_TLS_CERT', cert), key: read('TEMPORAL_TLS_KEY', key) } } : {}),
    ...(ca ? { serverRootCACertificate: read('TEMPORAL_TLS_CA', ca) } : {}),
    ...(serverName ? { serverNameOverride: serverName } : {}),
  };
}

/** Address and TLS for Connection.connect / NativeConnection.connect. */
export function temporalConnectionOptions(config: TlsKeys & Pick<Config, 'TEMPORAL_ADDRESS'>): { address: string; tls?: TLSConfig } {
  const tls = temporalTls(config);
  return { address: config.TEMPORAL_ADDRESS, ...(tls ? { tls } : {}) };
}
