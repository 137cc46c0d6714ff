// What a provision run hands EC2 at launch: the client token that makes a retried launch of the same
// run find its instance, and the cloud-init user data that carries the token and env (base64, never
// parsed by a shell).
import { createHash } from 'node:crypto';

/** ≤64 ASCII chars, stable per workspace and provision run: a retried launch cannot make a second instance. */
export function ec2ClientToken(workspaceId: string, runId: string): string {
  return createHash('sha256').update(`${workspaceId}:${runId}`).digest('hex').slice(0, 64);
}

/** cloud-init user data: writes the token where the agent expects it and the env file beside it. */
export function ec2UserData(env: Record<string, string>, token: string): string {
  // Base64 keeps arbitrary secret values (quotes, newlines) from ever being parsed by the shell.
  const b64 = (v: string) => Buffer.from(v, 'utf8').toString('base64');
  const envFile = Object.entries(env)
    .filter(([k]) => /^[A-Za-z_][A-Za-z0-9_]*$/.test(k))
    .map(([k, v]) => `${k}=${b64(v)}`)
    .join('\n');
  return [
    '#!/bin/sh',
    'set -e',
    'umask 077',
    'mkdir -p /configs',
    `echo ${b64(token)} | base64 -d > /configs/.auth_token`,
    `echo ${b64(envFile)} | base64 -d > /configs/agent.env.b64`,
    '',
  ].join('\n');
}
