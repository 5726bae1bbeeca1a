import type { FastifyError, FastifyInstance } from 'fastify';

/** The deepest JSON the API takes: a job spec nests 5 levels; far deeper input only costs the parsers' stack. */
export const MAX_JSON_DEPTH = 32;

/** Whether JSON text nests arrays and objects deeper than `max`, found by a scan (no parse, no recursion). */
export function nestsDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++;
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

const tooDeep = (what: string) => Object.assign(new Error(`${what}: JSON nested deeper than ${MAX_JSON_DEPTH} levels`), { statusCode: 400, code: 'BAD_REQUEST' });

/**
 * The scope's only body parser: JSON, refused with 400 when nested deeper than MAX_JSON_DEPTH, and an empty body is
 * no input (so a call whose input is optional may send none). Any other content type is answered 415.
 */
export function acceptJsonBodiesOnly(scope: FastifyInstance): void {
  // `__proto__` and `constructor.prototype` keys are dropped (never merged into objects), as unknown fields are.
  const parse = scope.getDefaultJsonParser('remove', 'remove');
  scope.removeAllContentTypeParsers();
  scope.addContentTypeParser('application/json', { parseAs: 'string' }, (req, body, done) => {
    const text = body as string;
    if (text.trim() === '') return done(null, undefined);
    if (nestsDeeperThan(text, MAX_JSON_DEPTH)) return done(tooDeep('request body'), undefined);
    // The default parser answers through `done`; its return value carries nothing.
    void parse(req, text, done);
  });
}

/**
 * tRPC parses its own input, from the body (which its Fastify plugin takes as text) or from `?input=`: both are capped
 * as other bodies are before tRPC sees them.
 */
export function capTrpcInputDepth(scope: FastifyInstance): void {
  scope.addHook('preValidation', async (req) => {
    if (typeof req.body === 'string' && nestsDeeperThan(req.body, MAX_JSON_DEPTH)) throw tooDeep('request body');
    const input = new URL(req.url, 'http://api.invalid').searchParams.get('input');
    if (input !== null && nestsDeeperThan(input, MAX_JSON_DEPTH)) throw tooDeep('input');
  });
}

/** tRPC's error codes by HTTP status, so refusals made before tRPC runs read like tRPC's own. */
const CODES: Record<number, string> = {
  400: 'BAD_REQUEST', 401: 'UNAUTHORIZED', 403: 'FORBIDDEN', 404: 'NOT_FOUND', 405: 'METHOD_NOT_SUPPORTED', 408: 'TIMEOUT',
  409: 'CONFLICT', 412: 'PRECONDITION_FAILED', 413: 'PAYLOAD_TOO_LARGE', 415: 'UNSUPPORTED_MEDIA_TYPE', 429: 'TOO_MANY_REQUESTS',
};

/** What a refusal by Fastify itself (body parsing, limits) says, naming the part of the request at fault. */
function describe(err: FastifyError, bodyLimit: number): string {
  switch (err.code) {
    case 'FST_ERR_CTP_BODY_TOO_LARGE': return `request body: larger than ${bodyLimit} bytes`;
    case 'FST_ERR_CTP_INVALID_MEDIA_TYPE': return 'request body: send it as application/json';
    case 'FST_ERR_CTP_INVALID_JSON_BODY': return 'request body: not valid JSON';
    case 'FST_ERR_CTP_INVALID_CONTENT_LENGTH': return 'request body: its length differs from content-length';
    // secure-json-parse refuses __proto__ and constructor.prototype keys with a SyntaxError.
    default: return err instanceof SyntaxError ? `request body: ${err.message}` : err.message;
  }
}

/**
 * Refusals made before a procedure runs (body parsing, rate limit) as `{ message, code }`, the shape of the API's own
 * errors. Anything unexpected is a 500 that says nothing of the server's insides; the log has the detail.
 */
export function answerErrorsPlainly(scope: FastifyInstance, bodyLimit: number): void {
  scope.setErrorHandler((err: FastifyError, req, reply) => {
    const status = typeof err.statusCode === 'number' && err.statusCode >= 400 && err.statusCode < 600 ? err.statusCode : 500;
    if (status >= 500) {
      console.error(`${req.method} ${req.url} failed:`, err);
      return reply.code(status).send({ message: 'internal error', code: 'INTERNAL_SERVER_ERROR' });
    }
    return reply.code(status).send({ message: describe(err, bodyLimit), code: CODES[status] ?? 'BAD_REQUEST' });
  });
}
