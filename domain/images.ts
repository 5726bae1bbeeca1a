/**
 * Container images as hosts advertise them and jobs ask for them. A host runs only images on its allow-list, and
 * advertises each as `name@sha256:<digest>` (the digest is the local image's ID or one of its repository digests).
 * A job names an image (`zansoc/busybox:1`), pins it (`name@sha256:…`), or gives only a digest (`sha256:…`).
 */

/** The image the project's own jobs run (built by scripts/build-images.ts): what a host allows unless told otherwise. */
export const DEFAULT_JOB_IMAGE = 'zansoc/busybox:1';

export const MAX_ADVERTISED_IMAGES = 64;

const DIGEST = /^sha256:[a-f0-9]{64}$/;
/** `name@sha256:<64 hex>`: what a host advertises. */
export const ADVERTISED_IMAGE = /^[a-z0-9]+(?:[._-][a-z0-9]+)*(?::[0-9]+)?(?:\/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::[\w][\w.-]{0,127})?@sha256:[a-f0-9]{64}$/;

export interface ImageReference {
  /** Normalised (`busybox` → `busybox:latest`, Docker Hub's prefixes dropped); null for a bare digest. */
  name: string | null;
  /** `sha256:<hex>`, when pinned. */
  digest: string | null;
}

export function parseImageReference(reference: string): ImageReference {
  if (DIGEST.test(reference)) return { name: null, digest: reference };
  const at = reference.indexOf('@');
  const name = at === -1 ? reference : reference.slice(0, at);
  const digest = at === -1 ? null : reference.slice(at + 1);
  if (digest !== null && !DIGEST.test(digest)) throw new Error(`image ${reference}: the digest must be sha256:<64 hex>`);
  return { name: name ? normaliseName(name) : null, digest };
}

/** Docker's own equivalences: `busybox` is `docker.io/library/busybox:latest`. */
function normaliseName(name: string): string {
  const lastSlash = name.lastIndexOf('/');
  const tagged = name.lastIndexOf(':') > lastSlash;
  const withTag = tagged ? name : `${name}:latest`;
  return withTag.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

/**
 * Whether one advertised image is the one a job asks for: by digest when the job pins one (and by name as well when
 * it gives both), else by name.
 */
export function imageMatches(advertised: string, wanted: string): boolean {
  const have = parseImageReference(advertised);
  const want = parseImageReference(wanted);
  if (want.digest) return have.digest === want.digest && (want.name === null || want.name === have.name);
  return want.name !== null && want.name === have.name;
}

export const advertisesImage = (advertised: readonly string[], wanted: string): boolean => advertised.some((image) => imageMatches(image, wanted));

/** The read model keeps a host's images as a JSON array; anything else there reads as advertising none. */
export function advertisedImagesFrom(json: string): string[] {
  try {
    const parsed: unknown = JSON.parse(json);
    return Array.isArray(parsed) ? parsed.filter((image): image is string => typeof image === 'string') : [];
  } catch {
    return [];
  }
}
