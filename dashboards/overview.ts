import { dashboard, quantiles, row, stat, timeseries } from './common';

export const overview = dashboard('zansoc-overview', 'Zansoc / Network overview', 'The whole network at a glance: hosts, jobs, money, API.')
  .withRow(row('Now'))
  .withPanel(stat('Hosts online', 'short', 'zansoc_hosts_online'))
  .withPanel(stat('Jobs running', 'short', 'sum(zansoc_jobs{state="RUNNING"})'))
  .withPanel(stat('Jobs queued', 'short', 'sum(zansoc_jobs{state="QUEUED"})'))
  .withPanel(stat('Paid to hosts (24 h)', 'short', 'increase(zansoc_payouts_zsc_total[24h])'))
  .withRow(row('Flow'))
  .withPanel(timeseries('Jobs submitted and finished', 'ops',
    ['sum(rate(zansoc_jobs_submitted_total[5m]))', 'submitted'],
    ['sum by (state) (rate(zansoc_jobs_finished_total[5m]))', '{{state}}']))
  .withPanel(timeseries('Submit → running', 's', ...quantiles('zansoc_job_submit_to_running_seconds')))
  .withPanel(timeseries('Network capacity', 'short', ['zansoc_network_capacity', '{{resource}}']))
  .withPanel(timeseries('API requests', 'reqps', ['sum by (status) (rate(zansoc_api_requests_total[5m]))', '{{status}}']));
