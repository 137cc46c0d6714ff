// Bearer-token guards. Admin tokens are compared in constant time; agent tokens are looked up by hash.
import type { FastifyRequest } from 'fastify';
import { constantTimeEqual } from '../activities/crypto';
import { secretsKeyMissing, unauthorized } from './errors';

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || header.length > 512) return null;
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(header);
  return match ? match[1] : null;
}

/**
 * onRequest hook for admin routes: it runs before the body is read, so a caller without the token gets
 * 401 and never a 400/413/415 that would tell it something about the route, nor makes the server parse
 * a megabyte for it. An unset ADMIN_TOKEN locks the routes instead of opening them.
 */
export function adminGuard(adminToken: string) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    if (!adminToken || !token || !constantTimeEqual(token, adminToken)) throw unauthorized();
  };
}

/**
 * preHandler for routes that seal or open secrets (store one, mint a token, provision): without a key
 * they answer 503 before changing anything, instead of failing halfway (a row created, its secret not).
 */
export function secretsKeyGuard(secretsKey: string) {
  return async (): Promise<void> => {
    if (!secretsKey) throw secretsKeyMissing();
  };
}
