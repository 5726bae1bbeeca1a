import type Dockerode from 'dockerode';
import { DEFAULT_JOB_IMAGE, parseImageReference } from '../domain/images';

/**
 * The host's allow-list, read at start: each entry (`name` or `name@sha256:<digest>`) becomes the image this host
 * holds, pinned by digest, as it advertises it (`name@sha256:<digest>`). A name is pinned to its local image ID then;
 * a pinned entry must be here already, under the digest it names (its ID or a repository digest).
 */
export interface AllowList {
  /** What the host advertises and the sandbox checks digests against. */
  images: string[];
  /** Entries of the default list that are not on this machine (the default is skipped where it is not built). */
  missing: string[];
}

export async function resolveAllowList(docker: Dockerode, entries: readonly string[] | undefined): Promise<AllowList> {
  const explicit = entries !== undefined;
  const images: string[] = [];
  const missing: string[] = [];
  for (const entry of entries ?? [DEFAULT_JOB_IMAGE]) {
    const { name, digest } = parseImageReference(entry);
    if (name === null) throw new Error(`ALLOWED_IMAGES: ${entry} has no name; write it as name@${entry}`);
    const info = await inspectIfPresent(docker, entry) ?? (digest ? await inspectIfPresent(docker, digest) : undefined);
    if (!info) {
      if (explicit) throw new Error(`ALLOWED_IMAGES: ${entry} is not on this machine's Docker engine (hosts never pull images: build or load it first)`);
      missing.push(entry);
      continue;
    }
    const local = [info.Id, ...(info.RepoDigests ?? []).map((repoDigest) => repoDigest.slice(repoDigest.indexOf('@') + 1))];
    if (digest && !local.includes(digest)) {
      throw new Error(`ALLOWED_IMAGES: ${entry} names ${digest}, but the local image is ${info.Id}`);
    }
    const pinned = `${name}@${digest ?? info.Id}`;
    if (!images.includes(pinned)) images.push(pinned);
  }
  return { images, missing };
}

async function inspectIfPresent(docker: Dockerode, reference: string): Promise<Dockerode.ImageInspectInfo | undefined> {
  try {
    return await docker.getImage(reference).inspect();
  } catch (error) {
    if ((error as { statusCode?: number }).statusCode === 404) return undefined;
    throw error;
  }
}
