import { router } from '../trpc';
import { hostsRouter } from './hosts';
import { jobsRouter } from './jobs';

export const appRouter = router({ jobs: jobsRouter, hosts: hostsRouter });
export type AppRouter = typeof appRouter;
