export * from './compute-job';
