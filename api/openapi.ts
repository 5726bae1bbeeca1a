import { readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { IncomingMessage } from 'node:http';
import { getHTTPStatusCodeFromError } from '@trpc/server/http';
import type { ZodTypeAny } from 'zod';
import { createOpenApiNodeHttpHandler, generateOpenApiDocument } from 'trpc-to-openapi';
import { BLOB_ERROR_SCHEMA, BLOB_METHODS, BLOB_OPERATION_PATH, BLOB_PATH_PATTERN, blobPathItem } from './blob-openapi';
import { contextFor, type ApiDeps } from './context';
import { openApiRoutes, type OpenApiRoute as Route } from './openapi-routes';
import { MAX_JSON_DEPTH } from './request-body';
import { appRouter } from './routers';
import { SIGNATURE_HEADERS } from './signing';

export const OPENAPI_BASE = '/api';

type OpenApiDocument = ReturnType<typeof generateOpenApiDocument>;
type SchemaObject = NonNullable<NonNullable<OpenApiDocument['components']>['schemas']>[string];

/** Every error body, whoever refuses the call (the procedure, the body parser, the rate limit). */
const ERROR_SCHEMA: SchemaObject = {
  type: 'object',
  required: ['message', 'code'],
  properties: {
    message: { type: 'string', description: 'What is wrong, naming the field or header at fault' },
    code: { type: 'string', description: 'The tRPC error code, e.g. BAD_REQUEST, UNAUTHORIZED, NOT_FOUND, CONFLICT' },
    issues: { type: 'array', items: { type: 'object' }, description: 'For invalid input: one issue per field, with its `path` and `message`' },
    data: { type: 'object', description: 'The same code and status again, the procedure, and for invalid input `fields` (`path`, `message`)' },
  },
};

/** Refusals any call may get before or around its procedure, by what the call is. */
function edgeRefusals(route: Route): Record<number, string> {
  const refusals: Record<number, string> = {
    400: `Invalid input: a field that breaks its schema (see \`issues\`), or a body that is not a JSON object or nests deeper than ${MAX_JSON_DEPTH} levels`,
    429: 'Rate limit: too many calls a minute from this identity (the signer, or the IP address of unsigned calls)',
  };
  if (route.protect !== false) refusals[401] = `Unsigned, expired, tampered or replayed request (${Object.values(SIGNATURE_HEADERS).join(', ')})`;
  if (route.path.includes('{')) refusals[404] = 'Nothing of yours under this id';
  if (route.method === 'POST') {
    refusals[413] = 'Request body larger than MAX_REQUEST_BYTES';
    refusals[415] = 'Request body not sent as application/json';
  }
  return refusals;
}

/**
 * Every operation lists every status it can answer: the edge's refusals and its procedure's own (its meta's
 * `errorResponses`), each with the one error schema.
 */
function documentRefusals(doc: OpenApiDocument): OpenApiDocument {
  for (const { route } of openApiRoutes) {
    const operation = doc.paths?.[route.path]?.[route.method.toLowerCase() as 'get' | 'post'];
    if (!operation?.responses) continue;
    const own = Array.isArray(route.errorResponses) ? {} : (route.errorResponses ?? {});
    const refusals = { ...edgeRefusals(route), ...own };
    // A body whose fields are all optional may be left out (an empty POST is an empty input).
    const body = operation.requestBody && 'content' in operation.requestBody ? operation.requestBody : null;
    const bodySchema = body?.content['application/json']?.schema;
    if (body && bodySchema && !('$ref' in bodySchema) && !bodySchema.required?.length) body.required = false;
    operation.responses = {
      200: operation.responses[200],
      ...Object.fromEntries(Object.entries(refusals).map(([status, description]) => [
        status, { description, content: { 'application/json': { schema: { $ref: '#/components/schemas/Error' } } } },
      ])),
    };
  }
  const schemas = Object.fromEntries(Object.entries(doc.components?.schemas ?? {}).filter(([name]) => !name.startsWith('error.')));
  doc.components = { ...doc.components, schemas: { ...schemas, Error: ERROR_SCHEMA, BlobError: BLOB_ERROR_SCHEMA as SchemaObject } };
  // The staging store's operations, which are not procedures (their bodies stream as octet-stream).
  doc.paths = { ...doc.paths, [BLOB_OPERATION_PATH]: blobPathItem() as NonNullable<OpenApiDocument['paths']>[string] };
  return doc;
}

/** The OpenAPI 3 document of the plain HTTP/JSON API (the same procedures as /trpc). */
export function openApiDocument(publicUrl: string) {
  return documentRefusals(generateOpenApiDocument(appRouter, {
    title: 'Zansoc API',
    description:
      'Jobs and hosts of the Zansoc peer-to-peer cloud. Calls marked with a lock are signed: EIP-712 typed data ' +
      '`ZansocRequest(string procedure, bytes32 inputHash, string nonce, uint64 expiresAt)` in the domain ' +
      '`{ name: "Zansoc API", version: "1", chainId }`, where procedure is the tRPC name (e.g. `jobs.submit`) and ' +
      'inputHash is keccak256 of the canonical JSON (sorted keys, no whitespace) of the whole input — path, query and ' +
      `body fields together. Send the signer's address, the nonce (hex), the expiry (unix seconds, at most 300 s ahead) ` +
      `and the signature in ${Object.values(SIGNATURE_HEADERS).join(', ')}. ` +
      'The staging store is here too, at `/blobs/{sha256}` (GET and PUT, application/octet-stream, streamed; also at ' +
      '`/blobs/{sha256}` beside this base URL), signed the same way as procedures `blobs.get` and `blobs.put`. A job\'s ' +
      'output archive and logs are sealed to its client\'s key (`sealedOutputSha256`, `sealedLogsSha256`); blobs are ' +
      'deleted when their job or deal ends, the result after STAGING_RETENTION_HOURS.',
    version: '1.0.0',
    baseUrl: `${publicUrl.replace(/\/$/, '')}${OPENAPI_BASE}`,
    securitySchemes: {
      ZansocSignature: { type: 'apiKey', in: 'header', name: SIGNATURE_HEADERS.signature, description: 'EIP-712 signature of the request (see above)' },
    },
  }));
}

const COERCIBLE = new Set(['ZodNumber', 'ZodBoolean', 'ZodBigInt', 'ZodDate']);
const INNER = ['innerType', 'schema', 'type', 'keyType', 'valueType', 'left', 'right', 'in', 'out'];

/**
 * trpc-to-openapi makes every number, boolean, bigint and date field of an input it serves coerce, on every call (to
 * read query strings), and the schemas are shared with /trpc: `null` would then pass as 0 and `true` as 1. Inputs
 * read from query strings say `z.coerce` themselves, so every field keeps the coercion it declares.
 */
function keepDeclaredCoercion(schema: ZodTypeAny | undefined, seen = new Set<ZodTypeAny>()): void {
  if (!schema || seen.has(schema)) return;
  seen.add(schema);
  const def = schema._def as Record<string, unknown> & { typeName?: string; options?: ZodTypeAny[] };
  if (def.typeName && COERCIBLE.has(def.typeName)) {
    if (Object.getOwnPropertyDescriptor(def, 'coerce')?.get) return;
    const declared = def.coerce === true;
    Object.defineProperty(def, 'coerce', { get: () => declared, set: () => undefined, enumerable: true });
    return;
  }
  if (def.typeName === 'ZodObject') Object.values((schema as unknown as { shape: Record<string, ZodTypeAny> }).shape).forEach((s) => keepDeclaredCoercion(s, seen));
  def.options?.forEach((s) => keepDeclaredCoercion(s, seen));
  for (const key of INNER) keepDeclaredCoercion(def[key] as ZodTypeAny | undefined, seen);
}

/**
 * Serves the API as plain HTTP/JSON under /api. The library's own Fastify adapter hands Fastify's request where a
 * Node request is expected (it lacks `off`), so the Node handler gets the raw request and response here, with the
 * body Fastify already parsed and the headers Fastify's hooks (CORS, rate limit) already set.
 */
export async function registerOpenApi(scope: FastifyInstance, deps: ApiDeps): Promise<void> {
  for (const procedure of Object.values(appRouter._def.procedures as unknown as Record<string, { _def: { inputs: ZodTypeAny[] } }>)) {
    procedure._def.inputs.forEach((input) => keepDeclaredCoercion(input));
  }
  const handle = createOpenApiNodeHttpHandler({
    router: appRouter,
    createContext: ({ req }: { req: IncomingMessage }) => contextFor(deps, req),
    onError({ path, error }) {
      if (error.code === 'INTERNAL_SERVER_ERROR') console.error(`${OPENAPI_BASE} ${path} failed:`, error.cause ?? error);
    },
    // tRPC's own status of each error, as /trpc answers it: the adapter's table lacks codes (PAYMENT_REQUIRED) and answers 500 for them.
    responseMeta: ({ errors }) => (errors[0] ? { status: getHTTPStatusCodeFromError(errors[0]) } : {}),
  });
  scope.route({
    // Every method, so that one a path's operations lack is answered 405 naming those they have (OPTIONS stays CORS's).
    method: scope.supportedMethods.filter((m) => m !== 'OPTIONS' && m !== 'HEAD'),
    url: `${OPENAPI_BASE}/*`,
    onRequest: async (request, reply) => {
      const path = new URL(request.url, 'http://api.invalid').pathname.slice(OPENAPI_BASE.length).replace(/(.)\/+$/, '$1');
      // The staging store's path is served by its own routes (GET, PUT): here only for the methods it lacks.
      if (BLOB_PATH_PATTERN.test(path)) {
        return reply.code(405).header('allow', BLOB_METHODS.join(', ')).send({ message: `${request.method} is not an operation here: use ${BLOB_METHODS.join(' or ')}`, code: 'METHOD_NOT_SUPPORTED' });
      }
      const matching = openApiRoutes.filter((r) => r.pattern.test(path));
      // A concrete path is matched before a templated one (OpenAPI 3, path templating): /jobs/quote is not /jobs/{jobId}.
      const concrete = Math.min(...matching.map((r) => r.params.length));
      const allowed = [...new Set(matching.filter((r) => r.params.length === concrete).map((r) => r.method))];
      if (!allowed.length || allowed.includes(request.method as (typeof allowed)[number])) return;
      return reply.code(405).header('allow', allowed.join(', ')).send({ message: `${request.method} is not an operation here: use ${allowed.join(' or ')}`, code: 'METHOD_NOT_SUPPORTED' });
    },
    handler: async (request, reply) => {
      // The adapter spreads the body into the input: an array or a scalar would pass for an empty object.
      const body = request.body;
      if (body !== undefined && (typeof body !== 'object' || body === null || Array.isArray(body))) {
        return reply.code(400).send({ message: 'request body: must be a JSON object', code: 'BAD_REQUEST' });
      }
      const raw = request.raw as IncomingMessage & { body?: unknown };
      raw.url = request.url.slice(OPENAPI_BASE.length) || '/';
      raw.body = request.body;
      // A POST with no body is a call without body fields (an optional input); the adapter would ask for a content type.
      if (request.method === 'POST' && request.body === undefined) raw.headers['content-type'] = 'application/json';
      for (const [name, value] of Object.entries(reply.getHeaders())) if (value !== undefined) reply.raw.setHeader(name, value);
      reply.hijack();
      await handle(raw, reply.raw);
    },
  });
}

/** The document and the Swagger UI page (from swagger-ui-dist, served locally: nothing is fetched from elsewhere). */
export function registerDocs(server: FastifyInstance, publicUrl: string): void {
  const document = openApiDocument(publicUrl);
  server.get('/openapi.json', async () => document);
  const assets = dirname(require.resolve('swagger-ui-dist/package.json'));
  const types: Record<string, string> = {
    'swagger-ui.css': 'text/css', 'swagger-ui-bundle.js': 'application/javascript', 'swagger-ui-standalone-preset.js': 'application/javascript',
  };
  for (const [file, type] of Object.entries(types)) {
    const body = readFileSync(join(assets, file));
    server.get(`/docs/${file}`, async (_req, reply) => reply.type(type).send(body));
  }
  server.get('/docs', async (_req, reply) => reply.type('text/html').send(`<!doctype html>
<html><head><meta charset="utf-8"><title>Zansoc API</title><link rel="stylesheet" href="/docs/swagger-ui.css"></head>
<body><div id="swagger-ui"></div>
<script src="/docs/swagger-ui-bundle.js"></script><script src="/docs/swagger-ui-standalone-preset.js"></script>
<script>window.ui = SwaggerUIBundle({ url: '/openapi.json', dom_id: '#swagger-ui', presets: [SwaggerUIBundle.presets.apis, SwaggerUIStandalonePreset], layout: 'StandaloneLayout' });</script>
</body></html>`));
}
