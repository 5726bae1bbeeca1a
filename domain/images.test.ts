import { advertisedImagesFrom, advertisesImage, imageMatches, parseImageReference } from './images';

const digest = (c: string) => `sha256:${c.repeat(64)}`;

describe('image references', () => {
  it('normalise names as Docker does and keep digests', () => {
    expect(parseImageReference('busybox')).toEqual({ name: 'busybox:latest', digest: null });
    expect(parseImageReference('docker.io/library/busybox:1')).toEqual({ name: 'busybox:1', digest: null });
    expect(parseImageReference(`zansoc/busybox:1@${digest('a')}`)).toEqual({ name: 'zansoc/busybox:1', digest: digest('a') });
    expect(parseImageReference(digest('b'))).toEqual({ name: null, digest: digest('b') });
    expect(() => parseImageReference('x@sha256:12')).toThrow(/sha256:<64 hex>/);
  });

  it('match by digest when the job pins one, else by name', () => {
    const advertised = `zansoc/busybox:1@${digest('a')}`;
    expect(imageMatches(advertised, 'zansoc/busybox:1')).toBe(true);
    expect(imageMatches(advertised, 'zansoc/busybox:2')).toBe(false);
    expect(imageMatches(advertised, digest('a'))).toBe(true);
    expect(imageMatches(advertised, `zansoc/busybox:1@${digest('a')}`)).toBe(true);
    // A pin is a pin: the right name at other bytes, or the right bytes under another name, is not this image.
    expect(imageMatches(advertised, `zansoc/busybox:1@${digest('b')}`)).toBe(false);
    expect(imageMatches(advertised, `other:1@${digest('a')}`)).toBe(false);
    expect(advertisesImage([], 'zansoc/busybox:1')).toBe(false);
  });

  it('read the read model\'s JSON, and nothing else, as a list', () => {
    expect(advertisedImagesFrom('["a@sha256:x"]')).toEqual(['a@sha256:x']);
    expect(advertisedImagesFrom('not json')).toEqual([]);
    expect(advertisedImagesFrom('{"a":1}')).toEqual([]);
  });
});
