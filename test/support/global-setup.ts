import { writeWorkflowBundle } from './workflow-bundle';

/** Once per jest run: bundle the workflows for every test file that runs them. */
export default async function globalSetup(): Promise<void> {
  await writeWorkflowBundle();
}
