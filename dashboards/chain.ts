import { dashboard, quantiles, row, timeseries } from './common';

export const chain = dashboard('zansoc-chain', 'Zansoc / Chain and money', 'Escrow, settlement and slashing on the chain: latency, failures and the money moved.')
  .withRow(row('Transactions'))
  .withPanel(timeseries('Chain step latency', 's', ...quantiles('zansoc_chain_transaction_duration_seconds', 'operation')))
  .withPanel(timeseries('Chain step failures', 'ops', ['sum by (operation) (rate(zansoc_chain_transaction_failures_total[5m]))', '{{operation}}']))
  .withRow(row('Money'))
  .withPanel(timeseries('ZSC moved', 'short',
    ['increase(zansoc_payouts_zsc_total[1h])', 'to hosts'],
    ['increase(zansoc_commission_zsc_total[1h])', 'commission'],
    ['increase(zansoc_refunds_zsc_total[1h])', 'refunded'],
    ['increase(zansoc_slashed_zsc_total[1h])', 'slashed']))
  .withPanel(timeseries('Orchestrator activity failures', 'ops', ['sum by (activity) (rate(zansoc_activity_failures_total[5m]))', '{{activity}}']));
