import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { LineCounter, parseDocument, isNode, isMap, isScalar, type Document } from 'yaml';
import { jobSpecSchema, type JobSpecInput } from '../domain/job-spec';

/** A local file a spec names as an input: it goes to the staging store before the job is submitted. */
export interface LocalInput {
  file: string;
  sha256: string;
  bytes: number;
}

const SHA256_HEX = /^[a-f0-9]{64}$/;

/**
 * A job spec file in YAML or JSON (JSON is YAML), checked against the API's own schema before anything is sent. Every
 * problem names the file, the line and the field, e.g. `spec.yaml:6: resources.memoryMiB: Number must be …`.
 * Inputs (`inputs:` and each test's `inputs:`) may name local files, relative to the spec file: they are hashed, their
 * digests go into the spec, and the files are added to `files` for the caller to upload.
 */
export function readSpecFile(path: string, files: LocalInput[] = []): JobSpecInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read it: ${(err as Error).message}`, { cause: err });
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const [first] = doc.errors;
    throw new Error(`${path}:${lineCounter.linePos(first.pos[0]).line}: not valid YAML or JSON: ${first.message}`);
  }
  const tests = doc.get('tests', true);
  const inputMaps = [['inputs'], ...(tests && 'items' in (tests as object) ? (tests as { items: unknown[] }).items.map((_, i) => ['tests', i, 'inputs']) : [])];
  for (const at of inputMaps) hashLocalInputs(doc, at, dirname(path), files, (message, node) => {
    throw new Error(`${path}${node?.range ? `:${lineCounter.linePos(node.range[0]).line}` : ''}: ${message}`);
  });
  const parsed = jobSpecSchema.safeParse(doc.toJS());
  if (parsed.success) return parsed.data;
  const lines = parsed.error.issues.map((issue) => {
    // The deepest node of the path that exists in the file: a missing field points at its parent.
    let line: number | null = null;
    for (let depth = issue.path.length; depth >= 0 && line === null; depth--) {
      const node: unknown = depth === 0 ? doc.contents : doc.getIn(issue.path.slice(0, depth), true);
      if (isNode(node) && node.range) line = lineCounter.linePos(node.range[0]).line;
    }
    return `${path}${line ? `:${line}` : ''}: ${issue.path.join('.') || '(root)'}: ${issue.message}`;
  });
  throw new Error(lines.join('\n'));
}

/** Replaces each input value that is not already a sha256 by the digest of the local file it names. */
function hashLocalInputs(
  doc: Document, at: (string | number)[], base: string, files: LocalInput[], fail: (message: string, node?: { range?: [number, number, number] | null }) => never,
): void {
  const map = doc.getIn(at, true);
  if (!isMap(map)) return;
  for (const pair of map.items) {
    if (!isScalar(pair.value) || typeof pair.value.value !== 'string' || SHA256_HEX.test(pair.value.value)) continue;
    const field = [...at, isScalar(pair.key) ? String(pair.key.value) : '?'].join('.');
    const file = resolve(base, pair.value.value);
    let data: Buffer;
    try {
      data = readFileSync(file);
    } catch (err) {
      fail(`${field}: cannot read the input file ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, pair.value);
    }
    const sha256 = createHash('sha256').update(data).digest('hex');
    pair.value.value = sha256;
    if (!files.some((f) => f.sha256 === sha256)) files.push({ file, sha256, bytes: data.length });
  }
}
