import { createHash } from 'node:crypto';
import { Wallet } from 'ethers';
import { DEVNET_KEYS } from '../../scripts/devnet';
import { isSealed, openSealed } from '../../runtime/sealed-box';
import { downloadBlob, type StagingAuth } from '../../runtime/staging-client';

/** The devnet client's key for the staging store, as `zansoc` signs with it. */
export const devnetClientStaging = (chainId = 31337): StagingAuth => ({ signer: new Wallet(DEVNET_KEYS.client), chainId });

/**
 * What `zansoc job result` does: fetches the job's output archive as staged (sealed to the client), opens it with the
 * client's key and checks it against the digest the job shows. Returns the archive and the staged bytes.
 */
export async function outputOf(
  apiUrl: string, job: { outputSha256: string | null; sealedOutputSha256: string | null }, client: Wallet, chainId = 31337,
): Promise<{ archive: Buffer; staged: Buffer }> {
  const fetched = job.sealedOutputSha256 ?? job.outputSha256;
  if (!fetched) throw new Error('the job has no output');
  const staged = await downloadBlob(apiUrl, fetched, { auth: { signer: client, chainId } });
  const archive = isSealed(staged) && job.sealedOutputSha256 ? openSealed(client.privateKey, staged) : staged;
  const digest = createHash('sha256').update(archive).digest('hex');
  if (digest !== job.outputSha256) throw new Error(`the output opens to sha256 ${digest}, not the job's ${job.outputSha256}`);
  return { archive, staged };
}
