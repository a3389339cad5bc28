// format.js: the console's pure formatting: times, countdowns, request
// numbers, the tab title. No DOM; unit-tested with node --test (format.test.mjs).

// parseTime is an RFC 3339 time in ms, 0 for none (or the zero time).
export function parseTime(s) {
  const t = Date.parse(s || '');
  return Number.isFinite(t) && t > 946684800000 ? t : 0;
}

// mmss formats seconds as mm:ss (h:mm:ss past an hour); negative → "-mm:ss".
export function mmss(sec) {
  const neg = sec < 0;
  sec = Math.abs(Math.floor(sec));
  const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
  const p = (n) => String(n).padStart(2, '0');
  return (neg ? '-' : '') + (h ? h + ':' + p(m) : p(m)) + ':' + p(s);
}

const pad = (n) => String(n).padStart(2, '0');

// dateTime is a local date and time: 2024-05-01 14:03 ("—" for none).
export function dateTime(ms) {
  if (!ms) return '—';
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate()) + ' ' + pad(d.getHours()) + ':' + pad(d.getMinutes());
}

// dateInput is a local date as an <input type=date> value: 2024-05-01.
export function dateInput(ms) {
  const d = new Date(ms);
  return d.getFullYear() + '-' + pad(d.getMonth() + 1) + '-' + pad(d.getDate());
}

// countdown says how long is left until due (ms) at now (ms): seconds left
// (negative once overdue), whether it is urgent (under a minute) and the
// clock text without the overdue wording ("02:59", or "00:12" overdue).
export function countdown(due, now) {
  if (!due) return null;
  const left = (due - now) / 1000;
  return { left, overdue: left < 0, urgent: left < 60, text: mmss(Math.abs(left)) };
}

export const shortID = (id) => (id || '').slice(-6);

// isNumber: a request number is digits only, 8 to 14 of them (contract §11).
export const isNumber = (n) => /^\d{8,14}$/.test(String(n || ''));

// chatLabel names a chat for people: its request number, else (a server
// that does not give one yet) "#" and the end of the session id.
export function chatLabel(number, sid) {
  return isNumber(number) ? String(number) : '#' + shortID(sid);
}

// titleWithCount prefixes the page title with the unseen alerts: "(2) 12345 …".
export function titleWithCount(base, n) {
  base = String(base || '').replace(/^\(\d+\)\s*/, '');
  return n > 0 ? '(' + n + ') ' + base : base;
}
