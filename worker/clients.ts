// Real clients built once per process from config, shared by the worker and the API.
import { EC2Client } from '@aws-sdk/client-ec2';
import Docker from 'dockerode';
import { Pool } from 'pg';
import type { Logger } from 'pino';
import { parseKeyValueList, type Config } from '../config';
import type { ComputePorts } from '../activities/compute-ports';
import { secretBoxFromConfig, type SecretBox } from '../activities/crypto';
import { createDockerCompute } from '../activities/docker-compute';
import { createEc2Compute } from '../activities/ec2-compute';
import { createWorkspaceStore, type WorkspaceStore } from '../activities/workspace-store';

export interface PlatformClients {
  pool: Pool;
  box: SecretBox;
  store: WorkspaceStore;
  compute: ComputePorts;
  close(): Promise<void>;
}

export function buildClients(config: Config, log: Logger): PlatformClients {
  const pool = new Pool({ connectionString: config.DATABASE_URL, max: 20 });
  // An idle client losing its connection (Postgres restart, pg_terminate_backend) must not crash us.
  pool.on('error', (err) => log.warn({ err: err.message }, 'postgres idle client error'));
  const box = secretBoxFromConfig(config.SECRETS_KEY);
  const compute: ComputePorts = {};
  if (config.computeProviders.has('docker')) {
    compute.docker = createDockerCompute({
      docker: new Docker({ socketPath: config.DOCKER_SOCKET }),
      network: config.DOCKER_NETWORK,
      extraLabels: parseKeyValueList(config.DOCKER_EXTRA_LABELS),
      log,
    });
  }
  if (config.computeProviders.has('ec2')) {
    compute.ec2 = createEc2Compute({
      ec2: new EC2Client({
        region: config.AWS_REGION,
        ...(config.EC2_ENDPOINT ? { endpoint: config.EC2_ENDPOINT } : {}),
        // Retries belong to Temporal, whose activity retry goes through the adapter's client-token
        // lookup. The SDK's own retry re-sends RunInstances blindly: harmless on AWS (ClientToken),
        // but an emulator that ignores the token launches a second instance (found by fault test F5).
        maxAttempts: 1,
      }),
      amiId: config.EC2_AMI_ID,
      instanceType: config.EC2_INSTANCE_TYPE,
      extraTags: parseKeyValueList(config.EC2_EXTRA_TAGS),
      log,
    });
  }
  return {
    pool,
    box,
    store: createWorkspaceStore(pool, box),
    compute,
    close: () => pool.end(),
  };
}
