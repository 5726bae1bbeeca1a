/** The `type` of every ApplicationFailure Zansoc throws on purpose; one list so workflows, activities and API agree. */
export enum ZansocErrorType {
  InvalidSpec = 'InvalidSpec',
  NoHostAvailable = 'NoHostAvailable',
  ImageNotFound = 'ImageNotFound',
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
}
