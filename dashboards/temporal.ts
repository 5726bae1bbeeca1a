import { dashboard, row, timeseries } from './common';

/** The Temporal SDK metrics this dashboard reads; the devnet metrics test checks the workers export each of them. */
export const TEMPORAL_SDK_METRICS = [
  'temporal_workflow_task_execution_latency_seconds',
  'temporal_activity_execution_latency_seconds',
  'temporal_worker_task_slots_available',
  'temporal_activity_task_received_total',
  'temporal_workflow_completed_total',
];

export const temporal = dashboard('zansoc-temporal', 'Zansoc / Temporal workers', "The orchestrator's Temporal workers, from the SDK's own metrics.")
  .withRow(row('Tasks'))
  .withPanel(timeseries('Workflow task execution (p99)', 's',
    ['histogram_quantile(0.99, sum by (le) (rate(temporal_workflow_task_execution_latency_seconds_bucket[5m])))', 'p99']))
  .withPanel(timeseries('Activity execution (p99)', 's',
    ['histogram_quantile(0.99, sum by (le, activity_type) (rate(temporal_activity_execution_latency_seconds_bucket[5m])))', '{{activity_type}}']))
  .withPanel(timeseries('Free task slots', 'short', ['temporal_worker_task_slots_available', '{{worker_type}} {{task_queue}}']))
  .withPanel(timeseries('Tasks and completions', 'ops',
    ['sum(rate(temporal_activity_task_received_total[5m]))', 'activity tasks'],
    ['sum(rate(temporal_workflow_completed_total[5m]))', 'workflows completed']));
