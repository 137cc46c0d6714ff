// What a provision run hands EC2 at launch: the client token that makes a retried launch of the same
// run find its instance, and the cloud-init user data, which carries no secret (see ec2UserData).
import { createHash } from 'node:crypto';

/** ≤64 ASCII chars, stable per workspace and provision run: a retried launch cannot make a second instance. */
export function ec2ClientToken(workspaceId: string, runId: string): string {
  return createHash('sha256').update(`${workspaceId}:${runId}`).digest('hex').slice(0, 64);
}

export interface Ec2Bootstrap {
  platformUrl: string;
  workspaceId: string;
  /** One-time credential the agent exchanges at POST /registry/bootstrap for its token and env. */
  credential: string;
}

const SAFE_VALUE = /^[\x21-\x7e]{1,2048}$/;

/**
 * cloud-init user data. Anyone with ec2:DescribeInstanceAttribute can read it, so it carries no secret:
 * the platform URL, the workspace id and the one-time bootstrap credential, written to
 * /configs/bootstrap.env (0600). The agent's boot exchanges the credential once for its token and env.
 */
export function ec2UserData(bootstrap: Ec2Bootstrap): string {
  for (const value of [bootstrap.platformUrl, bootstrap.workspaceId, bootstrap.credential]) {
    // Printable ASCII without spaces: nothing in it can end the quoted heredoc or reach a shell.
    if (!SAFE_VALUE.test(value)) throw new Error('ec2 user data: a bootstrap value is not printable ASCII');
  }
  return [
    '#!/bin/sh',
    'set -e',
    'umask 077',
    'mkdir -p /configs',
    "cat > /configs/bootstrap.env <<'MOLECULE_BOOTSTRAP'",
    `PLATFORM_URL=${bootstrap.platformUrl}`,
    `WORKSPACE_ID=${bootstrap.workspaceId}`,
    `BOOTSTRAP_CREDENTIAL=${bootstrap.credential}`,
    'MOLECULE_BOOTSTRAP',
    '',
  ].join('\n');
}
