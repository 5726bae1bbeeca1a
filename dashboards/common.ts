import { DashboardBuilder, DashboardCursorSync, RowBuilder } from '@grafana/grafana-foundation-sdk/dashboard';
import { DataqueryBuilder } from '@grafana/grafana-foundation-sdk/prometheus';
import { PanelBuilder as StatBuilder } from '@grafana/grafana-foundation-sdk/stat';
import { PanelBuilder as TimeseriesBuilder } from '@grafana/grafana-foundation-sdk/timeseries';

/** Shared defaults of every Zansoc dashboard: one Prometheus datasource (uid `prometheus`), UTC, 30 s refresh. */
export const DATASOURCE = { type: 'prometheus', uid: 'prometheus' };

export function dashboard(uid: string, title: string, description: string): DashboardBuilder {
  return new DashboardBuilder(title)
    .uid(uid)
    .description(description)
    .tags(['zansoc'])
    .timezone('utc')
    .refresh('30s')
    .time({ from: 'now-6h', to: 'now' })
    .tooltip(DashboardCursorSync.Crosshair)
    .readonly();
}

export const row = (title: string) => new RowBuilder(title);

const query = (expr: string, legend?: string, ref = 'A') => {
  const q = new DataqueryBuilder().datasource(DATASOURCE).expr(expr).refId(ref);
  return legend ? q.legendFormat(legend) : q;
};

/** A time series of one or more PromQL expressions, each with its legend. */
export function timeseries(title: string, unit: string, ...series: [expr: string, legend: string][]): TimeseriesBuilder {
  const panel = new TimeseriesBuilder().title(title).datasource(DATASOURCE).unit(unit).height(8).span(12);
  series.forEach(([expr, legend], i) => panel.withTarget(query(expr, legend, String.fromCharCode(65 + i))));
  return panel;
}

/** One number now. */
export function stat(title: string, unit: string, expr: string): StatBuilder {
  return new StatBuilder().title(title).datasource(DATASOURCE).unit(unit).height(4).span(6).withTarget(query(expr));
}

/** p50 and p99 of a histogram over 5 minutes. */
export function quantiles(metric: string, by = ''): [string, string][] {
  const grouping = by ? `le, ${by}` : 'le';
  const legend = by ? `{{${by}}} ` : '';
  return [
    [`histogram_quantile(0.5, sum by (${grouping}) (rate(${metric}_bucket[5m])))`, `${legend}p50`],
    [`histogram_quantile(0.99, sum by (${grouping}) (rate(${metric}_bucket[5m])))`, `${legend}p99`],
  ];
}
