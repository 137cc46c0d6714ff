// Secrets at rest (AES-256-GCM), auth tokens (random, stored as sha256 only) and constant-time compares.
import { createCipheriv, createDecipheriv, createHash, createHmac, randomBytes, timingSafeEqual } from 'node:crypto';

const VERSION = 'v1';

export class DecryptError extends Error {
  constructor() {
    super('decrypt failed'); // deliberately carries no key, IV or ciphertext details
    this.name = 'DecryptError';
  }
}

/** Accepts 64 hex chars or base64 of 32 bytes. */
export function parseSecretsKey(raw: string): Buffer {
  const trimmed = raw.trim();
  const key = /^[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed, 'hex') : Buffer.from(trimmed, 'base64');
  if (key.length !== 32) throw new Error('SECRETS_KEY must be 32 bytes (64 hex chars or base64)');
  return key;
}

export interface SecretBox {
  seal(plaintext: string): string;
  open(sealed: string): string;
  /**
   * The agent token of one provision run: the same for every execution of that run's mint (a stale
   * or retried one computes it again and finds its hash stored), unguessable without the platform key.
   */
  agentTokenForRun(workspaceId: string, runId: string): string;
  /**
   * The one-time credential an EC2 instance of this run exchanges for its token and env: deterministic
   * for the same reason as the token (a retried launch reuses the instance and its user data).
   */
  bootstrapCredentialForRun(workspaceId: string, runId: string): string;
}

export function createSecretBox(key: Buffer): SecretBox {
  if (key.length !== 32) throw new Error('secret box key must be 32 bytes');
  // A key of its own for tokens, derived from the platform key: a token never reveals anything of the
  // key that encrypts secrets.
  const tokenKey = createHmac('sha256', key).update('molecule agent token key').digest();
  return {
    bootstrapCredentialForRun(workspaceId, runId) {
      return `molb_${createHmac('sha256', tokenKey).update(`bootstrap:v1:${workspaceId}:${runId}`).digest('base64url')}`;
    },
    agentTokenForRun(workspaceId, runId) {
      return `mol_${createHmac('sha256', tokenKey).update(`agent-token:v1:${workspaceId}:${runId}`).digest('base64url')}`;
    },
    seal(plaintext) {
      const iv = randomBytes(12);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const ct = Buffer.concat([cipher.update(plaintext, 'utf8'), cipher.final()]);
      return [VERSION, iv.toString('base64'), cipher.getAuthTag().toString('base64'), ct.toString('base64')].join(':');
    },
    open(sealed) {
      const parts = sealed.split(':');
      if (parts.length !== 4 || parts[0] !== VERSION) throw new DecryptError();
      try {
        const decipher = createDecipheriv('aes-256-gcm', key, Buffer.from(parts[1], 'base64'));
        decipher.setAuthTag(Buffer.from(parts[2], 'base64'));
        return Buffer.concat([decipher.update(Buffer.from(parts[3], 'base64')), decipher.final()]).toString('utf8');
      } catch {
        throw new DecryptError();
      }
    },
  };
}

/**
 * The platform has no key at all: a configuration problem, not a bad value. A DecryptError still (the
 * provision activities treat both as "cannot read secrets"), but the API answers 503 instead of 500.
 */
export class SecretsKeyMissingError extends DecryptError {
  constructor() {
    super();
    this.message = 'SECRETS_KEY is not configured';
    this.name = 'SecretsKeyMissingError';
  }
}

/** A box that refuses to work: used when SECRETS_KEY is unset, so secrets can never be stored in clear. */
export function createMissingKeyBox(): SecretBox {
  const fail = (): never => {
    throw new SecretsKeyMissingError();
  };
  return { seal: fail, open: fail, agentTokenForRun: fail, bootstrapCredentialForRun: fail };
}

export function secretBoxFromConfig(rawKey: string): SecretBox {
  return rawKey ? createSecretBox(parseSecretsKey(rawKey)) : createMissingKeyBox();
}

export function newAuthToken(): string {
  return `mol_${randomBytes(32).toString('base64url')}`;
}

export function newInboundSecret(): string {
  return randomBytes(32).toString('base64url');
}

export function hashToken(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Constant-time equality of two strings of any length (compares fixed-size digests). */
export function constantTimeEqual(a: string, b: string): boolean {
  const da = createHash('sha256').update(a, 'utf8').digest();
  const db = createHash('sha256').update(b, 'utf8').digest();
  return timingSafeEqual(da, db) && a.length === b.length;
}
