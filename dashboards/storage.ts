import { dashboard, row, timeseries } from './common';

export const storage = dashboard('zansoc-storage', 'Zansoc / Storage', 'Storage deals: bytes kept, proofs, faults and repairs, what storage pays.')
  .withRow(row('Deals'))
  .withPanel(timeseries('Deals by state', 'short', ['zansoc_storage_deals', '{{state}}']))
  .withPanel(timeseries('Bytes under active deals (every replica)', 'bytes', ['zansoc_storage_deal_bytes', 'under deal']))
  .withPanel(timeseries('Sealed bytes kept, by host', 'bytes', ['zansoc_host_storage_bytes', '{{host}}']))
  .withPanel(timeseries('Deals ended', 'short', ['sum by (state) (increase(zansoc_storage_deals_finished_total[1h]))', '{{state}} per hour']))
  .withRow(row('Proofs'))
  .withPanel(timeseries('Proofs by outcome', 'ops', ['sum by (outcome) (rate(zansoc_storage_proofs_total[5m]))', '{{outcome}}']))
  .withPanel(timeseries('Failed proof share', 'percentunit', [
    'sum(rate(zansoc_storage_proofs_total{outcome="failed"}[15m])) / clamp_min(sum(rate(zansoc_storage_proofs_total[15m])), 1e-9)', 'failed',
  ]))
  .withPanel(timeseries('Repairs', 'short', ['increase(zansoc_storage_repairs_total[1h])', 'replicas moved per hour']))
  .withRow(row('Money'))
  .withPanel(timeseries('Period releases and deal ends (chain)', 's', [
    'histogram_quantile(0.95, sum by (le, operation) (rate(zansoc_chain_transaction_duration_seconds_bucket{operation=~"releaseStoragePeriod|endStorageDeal|slashStorageHost"}[5m])))',
    'p95 {{operation}}',
  ]));
