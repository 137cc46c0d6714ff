// Fault injection for stop attempts: wraps the REAL Docker port so that stopContainer fails while
// `shouldFail(workspaceId)` says so; everything else goes to the engine unchanged.
import type { ComputePorts, DockerComputePort } from '../../../activities/compute-ports';
import { ComputeError } from '../../../domain/errors';

export function withStopFaults(shouldFail: (workspaceId: string) => boolean, onStop?: () => void) {
  return (ports: ComputePorts): ComputePorts => {
    const docker = ports.docker as DockerComputePort;
    return {
      ...ports,
      docker: {
        ...docker,
        async stopContainer(id, opts) {
          onStop?.();
          if (shouldFail(id)) throw new ComputeError('transient', 'injected: engine refuses to stop');
          return docker.stopContainer(id, opts);
        },
      },
    };
  };
}
