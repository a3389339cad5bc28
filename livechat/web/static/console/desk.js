// desk.js: the agent's desk: the offers (accept, decline), the agent's
// chats with their reply countdown, and the chat panel of the selected one.
import { $, el } from './dom.js';
import { t, channelName, clockTime } from './i18n.js';
import { S, label } from './state.js';
import { parseTime, mmss, countdown } from './format.js';
import { Clock } from './socket.js';
import { renderAlerts, emergencyBadge } from './escalations.js';
import { renderChat } from './chat.js';
import { select } from './views.js';
import { renderTitle } from './alerts.js';

export function slaText(sla, sid) {
  const clock = t('sla.clock.' + sla.clock);
  return t(sla.state === 'breached' ? 'sla.breached' : 'sla.warning', { clock, due: sla.due ? clockTime(sla.due) : '?', id: label(sid) });
}

// due is when the agent must reply: the citizen's last message plus the
// response window, if the citizen spoke after the agent's last reply.
export function due(s) {
  if (s.state !== 'active' || !s.lastCitizenAt || s.lastCitizenAt <= s.lastAgentAt) return 0;
  return s.lastCitizenAt + S.windowS * 1000;
}

// sessionClocks sets the countdown badge and the waiting text of one row;
// the ticker calls it every second without rebuilding the list.
function sessionClocks(s, badge, waiting) {
  const cd = countdown(due(s), Clock.now());
  badge.hidden = !cd;
  if (cd) {
    badge.classList.toggle('urgent', cd.urgent);
    badge.textContent = cd.overdue ? t('due.overdue', { t: cd.text }) : cd.text;
  }
  waiting.textContent = cd ? t('sessions.waiting', { t: mmss((Clock.now() - s.lastCitizenAt) / 1000) })
    : s.state === 'closed' ? t('state.closed') : t('sessions.answered');
}

export function render() {
  renderOffers();
  renderSessions();
  renderChat();
  renderAlerts();
  renderTitle();
}

function accept(sid, o) {
  if (o.video) S.accepting.add(sid);
  S.sock.send({ type: 'accept', session_id: sid, data: {} });
}

function renderOffers() {
  const ul = $('offers');
  ul.replaceChildren();
  for (const [sid, o] of S.offers) {
    const since = parseTime(o.waiting_since) || o.received;
    ul.append(el('li', { class: 'offer' + (S.emergencies.has(sid) ? ' emergency' : ''), dataset: { sid } },
      el('div', { class: 'offer-top' },
        el('span', { class: 'chip', text: channelName(o.channel) }),
        S.numbers.has(sid) ? el('span', { class: 'number', text: label(sid) }) : null,
        emergencyBadge(sid),
        o.video ? el('span', { class: 'chip video', text: t('offer.video') }) : null,
        el('span', { class: 'wait', dataset: { since }, text: t('offer.waiting', { t: mmss((Clock.now() - since) / 1000) }) })),
      el('p', { class: 'preview', text: o.preview || t('offer.nopreview') }),
      el('div', { class: 'offer-actions' },
        el('button', { class: 'primary accept', type: 'button', text: t('offer.accept'), onclick: () => accept(sid, o) }),
        el('button', { class: 'ghost decline', type: 'button', text: t('offer.decline'),
          onclick: () => { S.sock.send({ type: 'decline', session_id: sid, data: {} }); S.offers.delete(sid); render(); } }))));
  }
  $('offers-empty').hidden = S.offers.size > 0;
  $('offers-empty').textContent = S.presence === 'available' ? t('offers.empty') : t('offers.notAvailable');
  $('offer-count').textContent = S.offers.size || '';
}

function renderSessions() {
  const ul = $('sessions');
  ul.replaceChildren();
  for (const s of S.sessions.values()) {
    const badge = el('span', { class: 'due-badge', title: t('due.label') });
    const waiting = el('span', { class: 'waiting' });
    sessionClocks(s, badge, waiting);
    ul.append(el('li', { class: 'session' + (s.id === S.current ? ' current' : '') + (s.state === 'closed' ? ' closed' : '') +
        (S.emergencies.has(s.id) ? ' emergency' : ''),
      dataset: { sid: s.id }, tabindex: '0', onclick: () => select(s.id), onkeydown: (e) => { if (e.key === 'Enter') select(s.id); } },
    el('div', { class: 'session-top' },
      el('span', { class: 'chip', text: channelName(s.channel) }),
      el('span', { class: 'sid number', text: label(s.id) }),
      emergencyBadge(s.id),
      s.unread ? el('span', { class: 'unread', text: String(s.unread) }) : null,
      badge),
    el('p', { class: 'preview', text: s.preview || '—' }),
    waiting));
  }
  $('sessions-empty').hidden = S.sessions.size > 0;
  $('session-count').textContent = S.sessions.size || '';
}

export function renderDue() {
  const s = S.sessions.get(S.current);
  const box = $('chat-due');
  const cd = s ? countdown(due(s), Clock.now()) : null;
  box.hidden = !cd;
  if (!cd) return;
  box.classList.toggle('urgent', cd.urgent);
  box.textContent = cd.overdue ? t('due.overdue', { t: cd.text }) : t('due.label') + ' ' + cd.text;
}

// deskClocks refreshes the desk's clocks without touching the transcript.
export function deskClocks() {
  document.querySelectorAll('#sessions li.session').forEach((li) => {
    const s = S.sessions.get(li.dataset.sid);
    if (s) sessionClocks(s, li.querySelector('.due-badge'), li.querySelector('.waiting'));
  });
  renderDue();
  document.querySelectorAll('#offers .wait').forEach((w) => { w.textContent = t('offer.waiting', { t: mmss((Clock.now() - Number(w.dataset.since)) / 1000) }); });
}
