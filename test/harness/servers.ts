// Contract between the jest global setup (which starts the real servers) and the tests (which use
// them). global-setup.ts writes this state to the run's state file; tests read it with testServers().
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

export const RUN_DIR = join(__dirname, '..', '..', '.test-run');
/** Each run has its own state file (named in this env var by global setup), so runs never collide. */
export const STATE_ENV = 'MOLECULE_TEST_STATE';
export const stateFileFor = (runId: string) => join(RUN_DIR, `state-${runId}.json`);

export interface TestServers {
  /** Unique id of this test run; every container/volume carries label molecule.test.run=<runId>. */
  runId: string;
  /** Postgres database created for this run (migrated), dropped in teardown. */
  databaseUrl: string;
  temporalAddress: string;
  /** The dev server's Web UI (loopback), e.g. http://127.0.0.1:5xxxx */
  temporalUiUrl: string;
  temporalNamespace: string;
  /** Path of the Podman Docker-API socket started for this run. */
  dockerSocket: string;
  /** moto EC2 endpoint, e.g. http://127.0.0.1:5xxxx */
  ec2Endpoint: string;
  /** An AMI id that moto knows. */
  ec2AmiId: string;
  /** Locally imported agent stand-in image. */
  agentImage: string;
  /** Pre-bundled workflow code, so each test's Worker starts fast. */
  workflowBundlePath: string;
  /** Path of the temporal CLI binary. */
  temporalBinary: string;
  /** PIDs of the processes global setup started, for teardown. */
  pids: Record<string, number>;
  /** The jest process that owns this run; a state file whose owner is dead is stale. */
  ownerPid: number;
}

/** Throws when the file is missing or half-written (a run killed mid-write). */
export function readStateFile(file: string): TestServers {
  return JSON.parse(readFileSync(file, 'utf8')) as TestServers;
}

export function writeStateFile(file: string, state: TestServers): void {
  writeFileSync(file, JSON.stringify(state, null, 2));
}

/** This run's state file, as global setup named it for the tests. */
function currentStateFile(): string {
  const file = process.env[STATE_ENV];
  if (!file) throw new Error(`test servers are not running: ${STATE_ENV} is unset (run the suite through jest, whose global setup starts them)`);
  if (!existsSync(file)) throw new Error(`test servers are not running: ${file} is missing`);
  return file;
}

export function testServers(): TestServers {
  return readStateFile(currentStateFile());
}

/** Records a server a test started (or restarted) under `name`, so teardown stops it too. */
export function recordTestProcess(name: string, pid: number): void {
  const file = currentStateFile();
  const state = readStateFile(file);
  state.pids[name] = pid;
  writeStateFile(file, state);
}

export const TEST_RUN_LABEL = 'molecule.test.run';
