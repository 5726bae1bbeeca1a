import { dashboard, quantiles, row, timeseries } from './common';

export const jobs = dashboard('zansoc-jobs', 'Zansoc / Jobs', 'Compute jobs: states, latency, verification and disputes. Open one in the Temporal UI as job-<id>.')
  .withRow(row('States'))
  .withPanel(timeseries('Jobs by state', 'short', ['sum by (state) (zansoc_jobs)', '{{state}}']))
  .withPanel(timeseries('Jobs finished', 'ops', ['sum by (state) (rate(zansoc_jobs_finished_total[5m]))', '{{state}}']))
  .withRow(row('Latency'))
  .withPanel(timeseries('Submit → running', 's', ...quantiles('zansoc_job_submit_to_running_seconds')))
  .withPanel(timeseries('End to end', 's', ...quantiles('zansoc_job_duration_seconds')))
  .withRow(row('Verification'))
  .withPanel(timeseries('Digests that lost a vote or dispute', 'short', ['sum(increase(zansoc_verification_disagreements_total[1h]))', 'per hour']))
  .withPanel(timeseries('Disputes decided', 'short', ['sum by (outcome) (increase(zansoc_challenges_total[1h]))', '{{outcome}}']));
