import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';

/**
 * The search attributes every job workflow carries, so operators can filter jobs in the Temporal UI
 * (e.g. `JobState = "RUNNING" AND HostIds = "host-2"`). A Temporal namespace must have them registered first:
 * the devnet's server does it at start; elsewhere `temporal operator search-attribute create` (see the README).
 */
export const JOB_ID = defineSearchAttributeKey('JobId', SearchAttributeType.KEYWORD);
export const CLIENT_ID = defineSearchAttributeKey('ClientId', SearchAttributeType.KEYWORD);
export const JOB_STATE = defineSearchAttributeKey('JobState', SearchAttributeType.KEYWORD);
export const HOST_IDS = defineSearchAttributeKey('HostIds', SearchAttributeType.KEYWORD_LIST);

export const JOB_SEARCH_ATTRIBUTES = [JOB_ID, CLIENT_ID, JOB_STATE, HOST_IDS];
/** Storage deal workflows carry ClientId and HostIds too. */
export const DEAL_ID = defineSearchAttributeKey('DealId', SearchAttributeType.KEYWORD);
export const DEAL_STATE = defineSearchAttributeKey('DealState', SearchAttributeType.KEYWORD);
/**
 * `waiting` while a job or deal waits for a host that fits (absent otherwise): whom the API wakes when capacity
 * rises (`HostWait = "waiting"`).
 */
export const HOST_WAIT = defineSearchAttributeKey('HostWait', SearchAttributeType.KEYWORD);
export const ALL_SEARCH_ATTRIBUTES = [...JOB_SEARCH_ATTRIBUTES, DEAL_ID, DEAL_STATE, HOST_WAIT];

/** `--search-attribute Name=Type` arguments for the CLI's dev server. */
export function searchAttributeArgs(): string[] {
  const cliType: Record<string, string> = { [SearchAttributeType.KEYWORD]: 'Keyword', [SearchAttributeType.KEYWORD_LIST]: 'KeywordList' };
  return ALL_SEARCH_ATTRIBUTES.flatMap((key) => ['--search-attribute', `${key.name}=${cliType[key.type]}`]);
}
