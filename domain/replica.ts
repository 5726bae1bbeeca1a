/**
 * What the orchestrator asks a host to do with the replicas of a storage deal, and what the host answers: the
 * contract between the `storageDeal` workflow and the host's storage activities. Bytes travel through the staging
 * store; only digests, Merkle roots and a few proof segments (hex) go through Temporal.
 */

/** A chunk of a deal as the client staged it: its raw CID (sha2-256) names the client-encrypted bytes. */
export interface ReplicaChunk {
  cid: string;
  bytes: number;
}

/** Fetch every chunk from staging (checked against its CID), seal it for this host, keep it. */
export interface StoreReplicaInput {
  dealId: string;
  chunks: ReplicaChunk[];
  /** Base URL of the staging store (`GET <url>/blobs/<sha256>`). */
  stagingUrl: string;
}

export interface StoreReplicaResult {
  /** Per chunk CID: the Merkle root (hex) of the host's sealed replica, over its PROOF_SEGMENT_BYTES segments. */
  roots: Record<string, string>;
  /** Sealed bytes the host now keeps for the deal. */
  bytes: number;
}

/** A proof challenge: for each chunk named, the segments (by index) the host must produce with their Merkle paths. */
export interface ProveReplicaInput {
  dealId: string;
  challenges: { cid: string; indexes: number[] }[];
}

export interface SegmentProof {
  index: number;
  /** The sealed segment's bytes, hex. */
  data: string;
  /** Sibling hashes bottom-up (hex), as `merkleProof` gives them. */
  proof: string[];
}

export interface ProveReplicaResult {
  proofs: { cid: string; segments: SegmentProof[] }[];
  /** Chunks the host does not have (any more): each is a failed proof. */
  missing: string[];
}

/** Retrieval: the host puts its sealed replica of one chunk into staging for the client to fetch. */
export interface ServeReplicaInput {
  dealId: string;
  cid: string;
  stagingUrl: string;
}

export interface ServeReplicaResult {
  /** sha256 of the sealed replica in staging; the client unseals it (dealId, the host's address, cid) and checks the CID. */
  sealedSha256: string;
  bytes: number;
}

export interface DeleteReplicaInput {
  dealId: string;
}
