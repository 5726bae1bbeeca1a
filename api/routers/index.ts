import { router } from '../trpc';
import { hostsRouter } from './hosts';
import { jobsRouter } from './jobs';
import { storageRouter } from './storage';
import { walletRouter } from './wallet';

export const appRouter = router({ jobs: jobsRouter, hosts: hostsRouter, wallet: walletRouter, storage: storageRouter });
export type AppRouter = typeof appRouter;
