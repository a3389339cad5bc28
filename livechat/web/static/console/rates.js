// rates.js: the satisfaction panel's pure logic: the report's query, the
// default range, rates as percentages and the CSV's file name. No DOM;
// unit-tested with node --test (rates.test.mjs).
import { dateInput } from './format.js';

// GROUPS are the report's groupings (GET /v1/surveys/report?group=), the first the default.
export const GROUPS = ['channel', 'handling_unit', 'district'];

const DATE = /^\d{4}-\d{2}-\d{2}$/;

// lastDays is the range of the n days up to and including now's local day,
// as <input type=date> values: {from, to}.
export function lastDays(nowMs, n = 7) {
  const d = new Date(nowMs);
  const from = new Date(d.getFullYear(), d.getMonth(), d.getDate() - (n - 1), 12); // noon: clear of DST edges
  return { from: dateInput(from.getTime()), to: dateInput(nowMs) };
}

// reportQuery builds the report's query from the form ({group, from, to}
// and, for the download, format 'csv'): {query} or {error: i18n key}. Both
// dates are days, to included (as the gateway reads them).
export function reportQuery(f) {
  const group = GROUPS.includes(f.group) ? f.group : GROUPS[0];
  const from = String(f.from || ''), to = String(f.to || '');
  if (!DATE.test(from) || !DATE.test(to)) return { error: 'sat.badDate' };
  if (from > to) return { error: 'sat.badRange' };
  const p = new URLSearchParams({ group, from, to });
  if (f.format === 'csv') p.set('format', 'csv');
  return { query: p.toString() };
}

// percent shows a rate (a fraction; above 1 for second follow-ups) with
// one decimal: 1.2081 → "120.8%"; none (no base to rate against) → "—".
export function percent(rate) {
  if (rate === null || rate === undefined || !Number.isFinite(rate)) return '—';
  return (Math.round(rate * 1000) / 10).toFixed(1) + '%';
}

// csvName is the downloaded file's name: satisfaction_channel_2024-05-01_2024-05-07.csv.
export function csvName(group, from, to) {
  const safe = (s) => String(s || '').replace(/[^0-9A-Za-z_-]/g, '');
  return 'satisfaction_' + safe(group) + '_' + safe(from) + '_' + safe(to) + '.csv';
}
