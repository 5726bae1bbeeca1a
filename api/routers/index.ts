import { router } from '../trpc';
import { hostsRouter } from './hosts';
import { jobsRouter } from './jobs';
import { walletRouter } from './wallet';

export const appRouter = router({ jobs: jobsRouter, hosts: hostsRouter, wallet: walletRouter });
export type AppRouter = typeof appRouter;
