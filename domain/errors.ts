/** The `type` of every ApplicationFailure Zansoc throws on purpose; one list so workflows, activities and API agree. */
export enum ZansocErrorType {
  InvalidSpec = 'InvalidSpec',
  NoHostAvailable = 'NoHostAvailable',
  ImageNotFound = 'ImageNotFound',
  /** The host's allow-list does not hold the image (by digest): refused before any container exists. */
  ImageNotAllowed = 'ImageNotAllowed',
  CapabilityMismatch = 'CapabilityMismatch',
  InsufficientFunds = 'InsufficientFunds',
  OutputTooLarge = 'OutputTooLarge',
  EscrowFailed = 'EscrowFailed',
  /** The host is leaving: its slot goes back to be re-matched at once, not retried on the same host. */
  HostDraining = 'HostDraining',
  /** The host has no room for the slot right now (its ledger is full); retried. */
  HostBusy = 'HostBusy',
  /** A challenge the workflow would not take: window closed, verifier unknown, or its stake could not be locked. */
  ChallengeRefused = 'ChallengeRefused',
  /** The host keeps no replica of the chunk asked for: a fault of the host, not worth retrying there. */
  ReplicaMissing = 'ReplicaMissing',
  /** A replica that does not unseal to its chunk's CID: its host cannot be a repair's source. */
  ReplicaCorrupt = 'ReplicaCorrupt',
  /** The host has no sealed result of the execution it is asked to reveal (it never committed, or lost it): its fault. */
  NothingToReveal = 'NothingToReveal',
  /** No holder of a deal's chunk could serve it. */
  RetrievalFailed = 'RetrievalFailed',
}
