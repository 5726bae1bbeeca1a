import { createHash, randomUUID } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { mkdir, rename, stat, writeFile, readFile, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';

const SHA256_HEX = /^[a-f0-9]{64}$/;

/**
 * The data plane's content-addressed blob store: logs, outputs and inputs move here over HTTP, never through
 * Temporal. A blob is named by its sha256, so an upload can only ever store the bytes its name promises.
 */
export class StagingStore {
  constructor(private readonly dir: string) {}

  private pathOf(sha256: string): string {
    if (!SHA256_HEX.test(sha256)) throw new Error(`not a sha256 hex digest: ${sha256}`);
    return join(this.dir, sha256.slice(0, 2), sha256);
  }

  async put(data: Buffer): Promise<string> {
    const sha256 = createHash('sha256').update(data).digest('hex');
    const path = this.pathOf(sha256);
    await mkdir(join(this.dir, sha256.slice(0, 2)), { recursive: true });
    const partial = `${path}.${randomUUID()}.partial`;
    await writeFile(partial, data);
    await rename(partial, path); // readers never see a half-written blob
    return sha256;
  }

  async has(sha256: string): Promise<boolean> {
    return stat(this.pathOf(sha256)).then(() => true, () => false);
  }

  async read(sha256: string, maxBytes = Infinity): Promise<Buffer | null> {
    try {
      const data = await readFile(this.pathOf(sha256));
      return data.length > maxBytes ? data.subarray(0, maxBytes) : data;
    } catch {
      return null;
    }
  }

  async remove(sha256: string): Promise<void> {
    await rm(this.pathOf(sha256), { force: true });
  }

  /** `PUT /blobs/<sha256>` stores a blob whose bytes hash to its name; `GET /blobs/<sha256>` returns it. */
  registerRoutes(server: FastifyInstance, maxBlobBytes: number): void {
    server.register(async (scope) => {
      scope.addContentTypeParser('application/octet-stream', { parseAs: 'buffer', bodyLimit: maxBlobBytes }, (_req, body, done) => done(null, body));
      scope.put<{ Params: { sha256: string } }>('/blobs/:sha256', async (req, reply) => {
        const { sha256 } = req.params;
        if (!SHA256_HEX.test(sha256)) return reply.code(400).send({ error: 'sha256: must be 64 lowercase hex characters' });
        if (!Buffer.isBuffer(req.body)) return reply.code(415).send({ error: 'body: send the blob as application/octet-stream' });
        const actual = createHash('sha256').update(req.body).digest('hex');
        if (actual !== sha256) return reply.code(422).send({ error: `sha256: the body hashes to ${actual}, not ${sha256}` });
        await this.put(req.body);
        return reply.code(201).send({ sha256, bytes: req.body.length });
      });
      scope.get<{ Params: { sha256: string } }>('/blobs/:sha256', async (req, reply) => {
        const { sha256 } = req.params;
        if (!SHA256_HEX.test(sha256)) return reply.code(400).send({ error: 'sha256: must be 64 lowercase hex characters' });
        if (!(await this.has(sha256))) return reply.code(404).send({ error: `no blob ${sha256}` });
        // The length lets downloaders show progress and an ETA.
        const { size } = await stat(this.pathOf(sha256));
        return reply.type('application/octet-stream').header('content-length', size).send(createReadStream(this.pathOf(sha256)));
      });
    });
  }
}
