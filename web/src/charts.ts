/** ECharts options for the report's charts. */
import type { BarSeriesOption } from 'echarts/charts';
import { TLS_LABELS, TLS_PROTOCOLS, type TlsDayRow, type TlsProtocol, type VolumeRow } from './api';
import type { ChartOption } from './Chart';
import {
  daysBetween,
  formatCount,
  formatDay,
  formatPercent,
  formatShortDay,
  percentOf,
} from './format';

export const TLS_COLORS: Record<TlsProtocol, string> = {
  TLSv1: '#b42318',
  'TLSv1.1': '#e8590c',
  'TLSv1.2': '#1971c2',
  'TLSv1.3': '#2b8a3e',
  none: '#862e9c',
  unknown: '#868e96',
};

const DOMAIN_COLORS = [
  '#1971c2',
  '#2b8a3e',
  '#e67700',
  '#7048e8',
  '#0c8599',
  '#c2255c',
  '#5c940d',
  '#495057',
];

/** Sender domains beyond this many are summed into one "Other domains" series. */
const MAX_DOMAIN_SERIES = 7;

/** Periods longer than this start the axis at the first day with data, not at `from`. */
const MAX_EMPTY_LEAD_DAYS = 366;

const TEXT_COLOR = '#343a40';

/** ECharts measures text on a canvas, which needs real font names, not `inherit`. */
const FONT_FAMILY = "system-ui, -apple-system, 'Segoe UI', Roboto, Arial, sans-serif";

/** Returns the days on the x axis: the whole period, unless it is much longer than the data. */
export function chartDays(from: string, to: string, dataDays: string[]): string[] {
  const all = daysBetween(from, to);
  if (all.length <= MAX_EMPTY_LEAD_DAYS || dataDays.length === 0) return all;

  const first = dataDays.reduce((min, day) => (day < min ? day : min));
  return daysBetween(first, to);
}

interface TooltipLine {
  color: string;
  name: string;
  value: string;
}

/**
 * Builds a tooltip from DOM nodes with textContent, because ECharts inserts a formatter's string
 * as HTML and series names come from mail logs.
 */
function tooltipElement(title: string, lines: TooltipLine[]): HTMLElement {
  const root = document.createElement('div');
  root.className = 'chart-tooltip';

  const heading = document.createElement('div');
  heading.className = 'chart-tooltip-title';
  heading.textContent = title;
  root.append(heading);

  for (const line of lines) {
    const row = document.createElement('div');
    row.className = 'chart-tooltip-row';
    const swatch = document.createElement('span');
    swatch.className = 'chart-tooltip-swatch';
    swatch.style.backgroundColor = line.color;
    const name = document.createElement('span');
    name.textContent = line.name;
    const value = document.createElement('span');
    value.className = 'chart-tooltip-value';
    value.textContent = line.value;
    row.append(swatch, name, value);
    root.append(row);
  }
  return root;
}

interface AxisParam {
  seriesIndex?: number;
  seriesName?: string;
  dataIndex: number;
  color?: unknown;
  value?: unknown;
}

function axisParams(params: unknown): AxisParam[] {
  return (Array.isArray(params) ? params : [params]) as AxisParam[];
}

function baseOption(days: string[]): ChartOption {
  return {
    animation: false,
    textStyle: { color: TEXT_COLOR, fontFamily: FONT_FAMILY },
    // The same as the deprecated `containLabel: true`: axis labels stay inside the box.
    grid: {
      left: 8,
      right: 16,
      top: 56,
      bottom: 8,
      outerBoundsMode: 'same',
      outerBoundsContain: 'axisLabel',
    },
    legend: {
      type: 'scroll',
      top: 0,
      left: 0,
      right: 0,
      icon: 'roundRect',
      itemWidth: 12,
      itemHeight: 12,
      itemGap: 14,
      textStyle: { fontSize: 12 },
    },
    xAxis: {
      type: 'category',
      data: days.map(formatShortDay),
      axisTick: { alignWithLabel: true },
      axisLabel: { hideOverlap: true },
    },
  };
}

/** Groups volume rows into one series per sender domain, the smallest merged into "Other". */
function domainSeries(days: string[], rows: VolumeRow[]): { name: string; data: number[] }[] {
  const totals = new Map<string, number>();
  for (const row of rows) {
    totals.set(row.senderDomain, (totals.get(row.senderDomain) ?? 0) + row.messages);
  }
  const ranked = [...totals.entries()].sort((a, b) => b[1] - a[1] || a[0].localeCompare(b[0]));
  const shown = ranked.slice(0, MAX_DOMAIN_SERIES).map(([domain]) => domain);
  const hasOther = ranked.length > MAX_DOMAIN_SERIES;

  const dayIndex = new Map(days.map((day, index) => [day, index]));
  const names = hasOther ? [...shown, 'Other domains'] : shown;
  const series = names.map((name) => ({ name, data: days.map(() => 0) }));

  for (const row of rows) {
    const index = dayIndex.get(row.day);
    if (index === undefined) continue;
    const position = shown.indexOf(row.senderDomain);
    const target = position >= 0 ? series[position] : series[series.length - 1];
    target.data[index] += row.messages;
  }
  return series;
}

/** Sending Volume: messages per day, one stacked bar series per sender domain. */
export function volumeChartOption(days: string[], rows: VolumeRow[]): ChartOption {
  const series = domainSeries(days, rows);

  return {
    ...baseOption(days),
    color: DOMAIN_COLORS,
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter: (params) => {
        const items = axisParams(params);
        const dataIndex = items[0]?.dataIndex ?? 0;
        const lines = items
          .filter((item) => Number(item.value) > 0)
          .map((item) => ({
            color: String(item.color),
            name: item.seriesName ?? '',
            value: formatCount(Number(item.value)),
          }));
        return tooltipElement(formatDay(days[dataIndex] ?? ''), lines);
      },
    },
    yAxis: { type: 'value', name: 'Messages', minInterval: 1 },
    series: series.map((s) => ({
      type: 'bar',
      name: s.name,
      stack: 'messages',
      data: s.data,
      barMaxWidth: 48,
      emphasis: { focus: 'series' },
    })),
  };
}

/** TLS Usage: the share of each day's messages per TLS version, stacked to 100%. */
export function tlsShareChartOption(days: string[], rows: TlsDayRow[]): ChartOption {
  const dayIndex = new Map(days.map((day, index) => [day, index]));
  const counts = new Map<TlsProtocol, number[]>(
    TLS_PROTOCOLS.map((protocol) => [protocol, days.map(() => 0)]),
  );
  const dayTotals = days.map(() => 0);

  for (const row of rows) {
    const index = dayIndex.get(row.day);
    const perDay = counts.get(row.tlsProtocol);
    if (index === undefined || !perDay) continue;
    perDay[index] += row.messages;
    dayTotals[index] += row.messages;
  }
  const protocols = TLS_PROTOCOLS.filter((protocol) =>
    (counts.get(protocol) ?? []).some((count) => count > 0),
  );

  return {
    ...baseOption(days),
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter: (params) => {
        const items = axisParams(params);
        const dataIndex = items[0]?.dataIndex ?? 0;
        const lines = items.flatMap((item) => {
          const protocol = protocols[item.seriesIndex ?? 0];
          const count = counts.get(protocol)?.[dataIndex] ?? 0;
          if (count === 0) return [];
          const share = formatPercent(percentOf(count, dayTotals[dataIndex]));
          const value = `${share} (${formatCount(count)})`;
          return [{ color: TLS_COLORS[protocol], name: TLS_LABELS[protocol], value }];
        });
        return tooltipElement(formatDay(days[dataIndex] ?? ''), lines);
      },
    },
    yAxis: { type: 'value', max: 100, axisLabel: { formatter: '{value}%' } },
    series: protocols.map((protocol) => ({
      type: 'bar',
      name: TLS_LABELS[protocol],
      stack: 'share',
      color: TLS_COLORS[protocol],
      barMaxWidth: 48,
      data: (counts.get(protocol) ?? []).map((count, index) => percentOf(count, dayTotals[index])),
    })),
  };
}

/** The shade over the days of a signal's evidence; tests find the highlight by this color. */
export const EVIDENCE_AREA_COLOR = 'rgba(196, 49, 75, 0.14)';
const EVIDENCE_POINT_COLOR = '#c4314b';

/** Runs of consecutive axis indexes: [[first, last], ...]. */
function indexRuns(indexes: number[]): [number, number][] {
  const runs: [number, number][] = [];
  for (const index of [...indexes].sort((a, b) => a - b)) {
    const last = runs[runs.length - 1];
    if (last && index === last[1] + 1) last[1] = index;
    else runs.push([index, index]);
  }
  return runs;
}

/**
 * Pins with the count on each evidence day that has messages, for the Messages series, so the
 * eye finds the days the signal is about.
 */
function evidencePoints(days: string[], messages: number[], indexes: number[]) {
  const points = indexes
    .filter((index) => messages[index] > 0)
    .map((index) => ({
      name: days[index],
      coord: [index, messages[index]],
      value: messages[index],
    }));
  return {
    markPoint: {
      symbol: 'pin',
      symbolSize: 40,
      itemStyle: { color: EVIDENCE_POINT_COLOR },
      label: { color: '#ffffff', fontSize: 11 },
      data: points,
    },
  } satisfies Pick<BarSeriesOption, 'markPoint'>;
}

/**
 * A shaded area over each run of evidence days. On the category axis a mark area runs from
 * the centre of one day to the centre of another, so a single day would get none. It is drawn
 * on a hidden value axis instead, where day i is i and half a day either side covers the
 * whole band of each day; the empty series only carries the mark.
 */
function evidenceAreaParts(dayCount: number, indexes: number[]) {
  const areas = indexRuns(indexes).map(([first, last]): [{ xAxis: number }, { xAxis: number }] => [
    { xAxis: first - 0.5 },
    { xAxis: last + 0.5 },
  ]);
  const axis = { type: 'value' as const, show: false, min: -0.5, max: dayCount - 0.5 };
  const series: BarSeriesOption = {
    type: 'bar',
    name: 'Evidence',
    xAxisIndex: 1,
    data: [],
    tooltip: { show: false },
    markArea: { silent: true, itemStyle: { color: EVIDENCE_AREA_COLOR }, data: areas },
  };
  return { axis, series };
}

/**
 * Account detail: messages and recipients per day, side by side. `evidenceDays` are shaded and
 * pinned, for an account opened from a signal.
 */
export function accountDailyChartOption(
  days: string[],
  daily: { day: string; messages: number; recipients: number }[],
  evidenceDays: string[] = [],
): ChartOption {
  const byDay = new Map(daily.map((row) => [row.day, row]));
  const messages = days.map((day) => byDay.get(day)?.messages ?? 0);
  const recipients = days.map((day) => byDay.get(day)?.recipients ?? 0);
  const indexes = evidenceDays.map((day) => days.indexOf(day)).filter((index) => index >= 0);
  const area = indexes.length > 0 ? evidenceAreaParts(days.length, indexes) : null;
  const base = baseOption(days);

  return {
    ...base,
    xAxis: area ? [base.xAxis as object, area.axis] : base.xAxis,
    // The evidence series is no data of the account: it stays out of the legend.
    legend: { ...(base.legend as object), data: ['Messages', 'Recipients'] },
    color: [DOMAIN_COLORS[0], DOMAIN_COLORS[2]],
    tooltip: {
      trigger: 'axis',
      axisPointer: { type: 'shadow' },
      formatter: (params) => {
        const items = axisParams(params);
        const dataIndex = items[0]?.dataIndex ?? 0;
        const lines = items.map((item) => ({
          color: String(item.color),
          name: item.seriesName ?? '',
          value: formatCount(Number(item.value)),
        }));
        return tooltipElement(formatDay(days[dataIndex] ?? ''), lines);
      },
    },
    // With the hidden value axis the y axis line would be drawn at its zero, inside the chart.
    yAxis: { type: 'value', minInterval: 1, axisLine: { show: false }, axisTick: { show: false } },
    series: [
      {
        type: 'bar',
        name: 'Messages',
        data: messages,
        barMaxWidth: 48,
        ...(indexes.length > 0 ? evidencePoints(days, messages, indexes) : {}),
      },
      { type: 'bar', name: 'Recipients', data: recipients, barMaxWidth: 48 },
      ...(area ? [area.series] : []),
    ],
  };
}
