// satisfaction.js: the wall's satisfaction panel (contract §9): GET
// /v1/surveys/report with the agent's token, one row per channel, handling
// unit or district over a range of days (the last 7 by default), the
// overall total below, and the same report downloaded as CSV. The panel is
// folded until the supervisor opens it (this browser remembers), and then
// loaded once and on demand, not with the wall's 2 s refresh: the report
// reads every follow-up record.
import { $, el } from './dom.js';
import { I18n, t, channelName, clockTime } from './i18n.js';
import { request } from './api.js';
import { GROUPS, lastDays, reportQuery, percent, csvName } from './rates.js';

const R = { report: null, from: '', to: '', at: 0, loaded: false, seq: 0 };

// COLUMNS are the figures shown, as keys of a report row (the rest is in the CSV).
const COLUMNS = [
  ['finished', 'sat.col.finished'], ['surveys_sent', 'sat.col.sent'], ['initiation_rate', 'sat.col.initiation'],
  ['answered', 'sat.col.answered'], ['response_rate', 'sat.col.response'], ['satisfaction_rate', 'sat.col.satisfaction'],
  ['reviews_requested', 'sat.col.reviews'],
];

const form = () => ({ group: $('sat-group').value, from: $('sat-from').value, to: $('sat-to').value });

const OPEN_KEY = 'hotline12345.satisfaction.open';

// showSatisfaction opens the panel as the supervisor left it, and fills it
// the first time it is open.
export function showSatisfaction() {
  const panel = $('satisfaction');
  if (!panel.open && remembered()) panel.open = true; // fires toggle, which comes back here
  if (!panel.open || R.loaded) return;
  R.loaded = true;
  const d = lastDays(Date.now());
  $('sat-from').value = d.from;
  $('sat-to').value = d.to;
  load();
}

// fail says why the report did not come: the gateway refused the token
// (401, 403), the network, or the server's own message.
function fail(e) {
  if (e.status === 403) return t('sat.forbidden');
  if (e.status === 401) return t('sat.unauthorized');
  if (!e.status) return t('sat.network', { msg: e.message });
  return t('sat.failed', { msg: e.message });
}

async function load(ev) {
  if (ev) ev.preventDefault();
  const f = form();
  const q = reportQuery(f);
  const panel = $('satisfaction');
  $('sat-error').textContent = '';
  if (q.error) { $('sat-error').textContent = t(q.error); return; }
  const my = ++R.seq;
  panel.setAttribute('aria-busy', 'true');
  $('sat-msg').textContent = t('sat.loading');
  try {
    const r = await request('/v1/surveys/report?' + q.query, { noLogout: true });
    const rep = await r.json();
    if (my !== R.seq) return; // a newer query answered first
    R.report = rep;
    R.from = f.from;
    R.to = f.to;
    R.at = Date.now();
    panel.dataset.query = q.query; // what the rows answer
    renderSatisfaction();
  } catch (e) {
    if (my !== R.seq) return;
    R.report = null;
    panel.dataset.query = '';
    renderSatisfaction();
    $('sat-msg').textContent = '';
    $('sat-error').textContent = fail(e);
  } finally {
    if (my === R.seq) panel.removeAttribute('aria-busy');
  }
}

// groupName is a row's group for people: a channel's name, "unknown" and
// the overall total translated, a handling unit or district as it is.
function groupName(group, value) {
  if (value === 'unknown') return t('sat.unknown');
  if (value === 'all') return t('sat.total');
  return group === 'channel' ? channelName(value) : value;
}

function cells(row) {
  return COLUMNS.map(([k]) => el('td', { class: 'num', dataset: { col: k },
    text: k.endsWith('_rate') ? percent(row[k]) : String(row[k] || 0) }));
}

export function renderSatisfaction() {
  const rep = R.report;
  const group = GROUPS.includes(rep && rep.group) ? rep.group : $('sat-group').value;
  const groupLabel = t('sat.group.' + group);
  $('sat-col-group').textContent = groupLabel;
  $('sat-caption').textContent = t('sat.caption', { group: groupLabel });
  const rows = rep && Array.isArray(rep.totals) ? rep.totals : [];
  $('sat-table').tBodies[0].replaceChildren(...rows.map((row) => el('tr', { class: 'sat-row', dataset: { group: row.group } },
    el('th', { scope: 'row', text: groupName(group, row.group) }), ...cells(row))));
  const foot = $('sat-table').tFoot;
  foot.replaceChildren();
  if (rep && rep.total && rows.length) {
    foot.append(el('tr', { class: 'sat-total' }, el('th', { scope: 'row', text: t('sat.total') }), ...cells(rep.total)));
  }
  $('sat-empty').hidden = !rep || rows.length > 0;
  if (rep) $('sat-msg').textContent = t('sat.updated', { from: R.from, to: R.to, t: clockTime(R.at) });
}

// download fetches the same report as CSV (the token is a header, so a plain
// link cannot) and saves it under a name that says the group and days.
async function download() {
  const f = form();
  const q = reportQuery(Object.assign({ format: 'csv' }, f));
  $('sat-error').textContent = '';
  if (q.error) { $('sat-error').textContent = t(q.error); return; }
  const btn = $('sat-csv');
  btn.disabled = true;
  try {
    const blob = await (await request('/v1/surveys/report?' + q.query, { noLogout: true })).blob();
    const url = URL.createObjectURL(blob);
    const name = csvName(f.group, f.from, f.to);
    const a = el('a', { href: url, download: name, hidden: true });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    btn.dataset.saved = name;
  } catch (e) {
    $('sat-error').textContent = fail(e);
  } finally {
    btn.disabled = false;
  }
}

function remembered() {
  try { return localStorage.getItem(OPEN_KEY) === '1'; } catch (e) { return false; }
}

function toggled() {
  const open = $('satisfaction').open;
  try { localStorage.setItem(OPEN_KEY, open ? '1' : '0'); } catch (e) { /* private mode */ }
  if (open) showSatisfaction();
}

export function wireSatisfaction() {
  $('satisfaction').addEventListener('toggle', toggled);
  $('sat-form').addEventListener('submit', load);
  $('sat-group').addEventListener('change', () => load());
  $('sat-csv').addEventListener('click', download);
  I18n.onchange(renderSatisfaction);
}

// resetSatisfaction forgets the report (sign-out: the next person loads their own).
export function resetSatisfaction() {
  R.report = null;
  R.loaded = false;
  R.seq++;
  $('sat-group').value = GROUPS[0];
  $('sat-error').textContent = '';
  $('sat-msg').textContent = '';
  $('satisfaction').dataset.query = '';
  renderSatisfaction();
}
