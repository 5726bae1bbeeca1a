/**
 * The staging store's two operations as OpenAPI describes them. They are not tRPC procedures (a blob streams as
 * application/octet-stream, never through JSON), so they are written out here, and the store serves them under the
 * OpenAPI document's base URL (/api/blobs/{sha256}) as well as at /blobs/{sha256}.
 */

/** The path of both operations, relative to the document's base URL. */
export const BLOB_OPERATION_PATH = '/blobs/{sha256}';
/** The methods the path has: any other is answered 405. */
export const BLOB_METHODS = ['GET', 'PUT'] as const;
/** A path under the base URL that is the store's (its sha256 checked by the store itself). */
export const BLOB_PATH_PATTERN = /^\/blobs\/[^/]+$/i;

const SHA256_PATTERN = '^[a-f0-9]{64}$';
const blobError = { $ref: '#/components/schemas/BlobError' };
const answer = (description: string) => ({ description, content: { 'application/json': { schema: blobError } } });

/** `{ error }`: the store's refusals, naming what is at fault. */
export const BLOB_ERROR_SCHEMA = {
  type: 'object',
  required: ['error'],
  properties: { error: { type: 'string', description: 'What is wrong, naming the parameter or header at fault' } },
};

const sha256Parameter = {
  name: 'sha256', in: 'path', required: true, description: 'The blob\'s sha256 (lowercase hex): its name is the hash of its bytes',
  schema: { type: 'string', pattern: SHA256_PATTERN },
};

const signed = [{ ZansocSignature: [] }];

/** The path item of `/blobs/{sha256}`: GET and PUT, each with every status it can answer. */
export function blobPathItem(): Record<string, unknown> {
  return {
    get: {
      operationId: 'blobs-get',
      tags: ['staging'],
      summary: 'Download a blob of one of your jobs or deals',
      description: 'Signed as procedure `blobs.get` over `{ sha256 }`. Only the blob\'s writer, its job\'s or deal\'s client, and a host that runs the job or holds the deal now may read it; to anyone else it does not exist.',
      security: signed,
      parameters: [sha256Parameter],
      responses: {
        200: { description: 'The blob\'s bytes, streamed, with its Content-Length', content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } } },
        400: answer('`sha256` is not 64 lowercase hex characters'),
        401: answer('Unsigned, expired, tampered or replayed request'),
        404: answer('No blob of yours by that hash'),
      },
    },
    put: {
      operationId: 'blobs-put',
      tags: ['staging'],
      summary: 'Upload a blob (a job\'s input; a host\'s sealed result; a deal\'s chunk or replica)',
      description: 'Signed as procedure `blobs.put` over `{ sha256, bytes, ...query }`, `bytes` being the Content-Length. Streamed to disk and ' +
        'kept only if the body hashes to `sha256`. Counted against the writer\'s STAGING_QUOTA_BYTES until its job or deal ends. A client ' +
        'uploads inputs with no query; a host staging its slot\'s sealed result names `jobId`, `kind` (output|logs) and `plaintextSha256`; a ' +
        'deal\'s holder names `dealId` and `kind` replica, the orchestrator `dealId` and `kind` chunk.',
      security: signed,
      parameters: [
        sha256Parameter,
        { name: 'jobId', in: 'query', required: false, description: 'The job a host\'s output or logs belong to', schema: { type: 'string', format: 'uuid' } },
        { name: 'dealId', in: 'query', required: false, description: 'The deal a replica or chunk belongs to', schema: { type: 'string', format: 'uuid' } },
        { name: 'kind', in: 'query', required: false, description: 'What the blob is to its job (output, logs) or deal (replica, chunk)', schema: { type: 'string', enum: ['output', 'logs', 'replica', 'chunk'] } },
        { name: 'plaintextSha256', in: 'query', required: false, description: 'The sha256 of what a sealed output or logs blob holds', schema: { type: 'string', pattern: SHA256_PATTERN } },
      ],
      requestBody: {
        required: true,
        content: { 'application/octet-stream': { schema: { type: 'string', format: 'binary' } } },
      },
      responses: {
        201: {
          description: 'Stored (or stored already: the claim is live again)',
          content: { 'application/json': { schema: { type: 'object', required: ['sha256', 'bytes'], properties: { sha256: { type: 'string', pattern: SHA256_PATTERN }, bytes: { type: 'integer', minimum: 0 } } } } },
          links: { GetBlob: { operationId: 'blobs-get', parameters: { sha256: '$response.body#/sha256' }, description: 'Its writer reads it back' } },
        },
        400: answer('A bad parameter, named: `sha256`, `jobId`, `dealId`, `kind`, `plaintextSha256`, or an unknown one'),
        401: answer('Unsigned, expired, tampered or replayed request, or one signed for another size'),
        404: answer('A job or deal the writer has no part in'),
        411: answer('No Content-Length'),
        413: answer('Over MAX_BLOB_BYTES, longer than its Content-Length, or over the writer\'s STAGING_QUOTA_BYTES (naming quota and usage); nothing is stored'),
        415: answer('The body is not sent as application/octet-stream'),
        422: answer('The body does not hash to `sha256`; nothing is stored'),
      },
    },
  };
}
