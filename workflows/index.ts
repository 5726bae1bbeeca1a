export * from './compute-job';
export * from './storage-deal';
