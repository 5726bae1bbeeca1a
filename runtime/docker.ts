import Dockerode from 'dockerode';

export const DEFAULT_DOCKER_SOCKET = '/var/run/docker.sock';

/** A client for DOCKER_HOST when set, else the system socket (not a per-user Docker Desktop socket). */
export function connectDocker(): Dockerode {
  return process.env.DOCKER_HOST ? new Dockerode() : new Dockerode({ socketPath: DEFAULT_DOCKER_SOCKET });
}
