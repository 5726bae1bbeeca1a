import { dashboard, quantiles, row, timeseries } from './common';

export const hosts = dashboard('zansoc-hosts', 'Zansoc / Hosts and earnings', 'Host capacity and use by resource, slots, slot time, what hosts earn and lose.')
  .withRow(row('Capacity'))
  .withPanel(timeseries('Offered, by host', 'short', ['zansoc_host_capacity{resource="cpu"}', '{{host}} cpu'], ['zansoc_host_capacity{resource="slots"}', '{{host}} slots']))
  .withPanel(timeseries('In use, by host', 'short', ['zansoc_host_used{resource="cpu"}', '{{host}} cpu'], ['zansoc_host_used{resource="slots"}', '{{host}} slots']))
  .withPanel(timeseries('Memory in use', 'decmbytes', ['zansoc_host_used{resource="memory_mib"}', '{{host}}']))
  .withPanel(timeseries('Hosts online', 'short', ['zansoc_hosts_online', 'online']))
  .withRow(row('Work'))
  .withPanel(timeseries('Slots by outcome', 'ops', ['sum by (host, outcome) (rate(zansoc_host_slots_total[5m]))', '{{host}} {{outcome}}']))
  .withPanel(timeseries('Slot time', 's', ...quantiles('zansoc_host_slot_duration_seconds', 'host')))
  .withRow(row('Earnings'))
  .withPanel(timeseries('Paid to hosts', 'short', ['increase(zansoc_payouts_zsc_total[1h])', 'ZSC per hour']))
  .withPanel(timeseries('Stake slashed', 'short', ['increase(zansoc_slashed_zsc_total[1h])', 'ZSC per hour'], ['increase(zansoc_slashes_total[1h])', 'slashes per hour']));
