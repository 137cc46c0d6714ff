// Bearer-token guards. Admin tokens are compared in constant time; agent tokens are looked up by hash.
import type { FastifyRequest } from 'fastify';
import { constantTimeEqual } from '../activities/crypto';
import { unauthorized } from './errors';

export function bearerToken(request: FastifyRequest): string | null {
  const header = request.headers.authorization;
  if (typeof header !== 'string' || header.length > 512) return null;
  const match = /^Bearer ([\x21-\x7e]+)$/.exec(header);
  return match ? match[1] : null;
}

/** preHandler for admin routes. An unset ADMIN_TOKEN locks the routes instead of opening them. */
export function adminGuard(adminToken: string) {
  return async (request: FastifyRequest): Promise<void> => {
    const token = bearerToken(request);
    if (!adminToken || !token || !constantTimeEqual(token, adminToken)) throw unauthorized();
  };
}
