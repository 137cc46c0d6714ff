// Volume creation that keeps the engine's answer. dockerode's createVolume resolves to a handle and
// drops the answer, which would cost an inspect per provision to read the volume's labels back.
import type Docker from 'dockerode';

export interface VolumeAnswer {
  Name?: string;
  /** The labels of the volume made, or of the existing one of that name. */
  Labels?: Record<string, string> | null;
}

/** POST /volumes/create: the volume made, or the existing one of that name (Docker and Podman alike answer 201 with it). */
export function createVolumeAnswering(docker: Docker, opts: { Name: string; Labels: Record<string, string> }): Promise<VolumeAnswer> {
  return new Promise((resolve, reject) => {
    docker.modem.dial(
      { path: '/volumes/create?', method: 'POST', allowEmpty: true, options: opts, statusCodes: { 200: true, 201: true, 500: 'server error' } },
      (err, data) => (err ? reject(err) : resolve(data !== null && typeof data === 'object' && !Buffer.isBuffer(data) ? (data as VolumeAnswer) : {})),
    );
  });
}
