// panel.js: beside the chat, what the console knows of the citizen (the
// session view's "citizen": channel, masked phone, district, language and
// their earlier requests across channels, each with its number and
// status), and above the transcript the earlier requests about the same
// matter that triage linked (the session's "history", with the reply).
import { $, el } from './dom.js';
import { t, channelName, nameOr } from './i18n.js';
import { parseTime, dateTime } from './format.js';

export const statusName = (st) => nameOr('request.status.', st, '—');

const languageName = (l) => nameOr('language.', l, '—');

export function renderPanel(s) {
  renderCitizen(s);
  renderHistory(s);
}

function renderCitizen(s) {
  const box = $('citizen');
  const c = s.citizen;
  box.dataset.sid = s.id;
  box.hidden = !c;
  if (!c) return;
  const facts = [
    ['citizen.channel', channelName(c.channel || s.channel) || '—', 'channel'],
    ['citizen.phone', c.phone || '—', 'phone'],
    ['citizen.district', c.district || '—', 'district'],
    ['citizen.language', languageName(c.language), 'language'],
  ];
  $('citizen-facts').replaceChildren(...facts.map(([k, v, cls]) => el('div', { class: 'fact ' + cls }, el('dt', { text: t(k) }), el('dd', { text: v }))));
  const reqs = (Array.isArray(c.requests) ? c.requests : []).slice().sort((a, b) => parseTime(b.received_at) - parseTime(a.received_at));
  $('citizen-requests-title').textContent = t('citizen.requests', { n: reqs.length });
  $('citizen-requests').replaceChildren(...reqs.map((r) => el('li', { class: 'citizen-request', dataset: { id: r.id || '', number: r.number || '', status: r.status || '' } },
    el('div', { class: 'req-top' },
      el('strong', { class: 'req-number', text: r.number || r.id || '—' }),
      el('span', { class: 'chip', text: channelName(r.channel) })),
    el('div', { class: 'req-bottom' },
      el('span', { class: 'req-date', text: dateTime(parseTime(r.received_at)) }),
      el('span', { class: 'req-status', text: statusName(r.status) })))));
  $('citizen-requests-empty').hidden = reqs.length > 0;
}

// renderHistory lists the citizen's earlier requests about the same matter
// (linked by triage; no text, the ticket system has it), newest first.
function renderHistory(s) {
  const box = $('history');
  const items = s.history || [];
  box.hidden = items.length === 0;
  box.dataset.sid = s.id;
  if (box.hidden) return;
  $('history-title').textContent = t('history.title', { n: items.length });
  $('history-list').replaceChildren(...items.map((h) => el('li', { class: 'history-item', dataset: { id: h.id, status: h.status || '' } },
    el('div', { class: 'history-top' },
      el('span', { class: 'chip', text: channelName(h.channel) }),
      el('span', { class: 'history-date', text: dateTime(parseTime(h.received_at)) }),
      el('span', { class: 'history-status', text: statusName(h.status) }),
      el('span', { class: 'history-id', text: h.number || h.id })),
    h.reply ? el('p', { class: 'history-reply' }, el('span', { class: 'meta', text: t('history.reply') }), el('span', { text: h.reply }))
      : el('p', { class: 'history-reply none', text: t('history.noReply') }))));
}
