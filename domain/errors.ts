/** The `type` of every ApplicationFailure Zansoc throws on purpose; one list so workflows, activities and API agree. */
export enum ZansocErrorType {
  InvalidSpec = 'InvalidSpec',
  NoHostAvailable = 'NoHostAvailable',
  ImageNotFound = 'ImageNotFound',
  CapabilityMismatch = 'CapabilityMismatch',
  InsufficientFunds = 'InsufficientFunds',
  OutputTooLarge = 'OutputTooLarge',
  EscrowFailed = 'EscrowFailed',
}
