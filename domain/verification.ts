/** One replica's answer: which host ran it and the digest it reported. */
export interface ReplicaDigest {
  hostId: string;
  resultDigest: string;
}

export type Verdict =
  | { kind: 'majority'; digest: string; agreeing: string[]; dissenting: string[] }
  | { kind: 'no-majority'; counts: Record<string, number> };

/**
 * Compares the replicas' digests: a digest reported by strictly more than half of them wins; the hosts that
 * reported anything else are the minority (to be slashed). Anything less than a strict majority decides nothing.
 */
export function majorityVerdict(replicas: readonly ReplicaDigest[]): Verdict {
  const counts: Record<string, number> = {};
  for (const r of replicas) counts[r.resultDigest] = (counts[r.resultDigest] ?? 0) + 1;
  const winner = Object.entries(counts).find(([, n]) => n * 2 > replicas.length);
  if (!winner) return { kind: 'no-majority', counts };
  const [digest] = winner;
  return {
    kind: 'majority',
    digest,
    agreeing: replicas.filter((r) => r.resultDigest === digest).map((r) => r.hostId),
    dissenting: replicas.filter((r) => r.resultDigest !== digest).map((r) => r.hostId),
  };
}
