import { readFileSync } from 'node:fs';
import { LineCounter, parseDocument, isNode } from 'yaml';
import { jobSpecSchema, type JobSpecInput } from '../domain/job-spec';

/**
 * A job spec file in YAML or JSON (JSON is YAML), checked against the API's own schema before anything is sent. Every
 * problem names the file, the line and the field, e.g. `spec.yaml:6: resources.memoryMiB: Number must be …`.
 */
export function readSpecFile(path: string): JobSpecInput {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    throw new Error(`${path}: cannot read it: ${(err as Error).message}`);
  }
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false });
  if (doc.errors.length > 0) {
    const [first] = doc.errors;
    throw new Error(`${path}:${lineCounter.linePos(first.pos[0]).line}: not valid YAML or JSON: ${first.message}`);
  }
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
