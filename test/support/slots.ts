import type Dockerode from 'dockerode';
import type { SlotExecution } from '../../domain/execution';
import fs from 'node:fs';
import { resolveAllowList } from '../../host-worker/images';
import { unmountSlotDisksUnder } from '../../host-worker/slot-disk';
import { LABEL_JOB } from '../../host-worker/sandbox';
import { JOB_IMAGE } from '../../scripts/build-images';

/** Slots of one test job on the project's job image; each test file sets the defaults it needs. */
export function slotMaker(jobId: string, defaults: Partial<SlotExecution>) {
  return (name: string, command: string[], overrides: Partial<SlotExecution> = {}): SlotExecution => ({
    executionId: `${jobId}/${name}`,
    jobId,
    image: JOB_IMAGE,
    command,
    env: {},
    resources: { cpu: 1, memoryMiB: 64, diskMiB: 16, gpu: 0 },
    timeoutSeconds: 30,
    stagingUrl: 'http://staging.invalid',
    ...defaults,
    ...overrides,
  });
}

/** Removes whatever containers a test job left behind. */
export async function removeContainersOfJob(docker: Dockerode, jobId: string): Promise<void> {
  const leftovers = await docker.listContainers({ all: true, filters: { label: [`${LABEL_JOB}=${jobId}`] } });
  await Promise.all(leftovers.map((c) => docker.getContainer(c.Id).remove({ force: true })));
}

/** The allow-list of a host that runs only the project's job image, pinned by its local digest as a host pins it at start. */
export async function jobImageAllowList(docker: Dockerode): Promise<string[]> {
  return (await resolveAllowList(docker, [JOB_IMAGE])).images;
}

/** Removes a test's work folder, unmounting first any slot disk left in it (a removed folder would otherwise be busy). */
export async function removeWorkDir(workDir: string): Promise<void> {
  await unmountSlotDisksUnder(workDir);
  fs.rmSync(workDir, { recursive: true, force: true });
}
