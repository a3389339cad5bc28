// wall.js: the supervisor's wall: every queue, agent and chat from GET
// /v1/agents/wall every 2 s, emergencies first, then the other chats at
// risk, each with "take over" (frame takeover) and "reassign" (frame
// transfer to_agent).
import { $, el } from './dom.js';
import { t, channelName, clockTime } from './i18n.js';
import { S, myID, label, noteNumber } from './state.js';
import { parseTime, mmss, countdown } from './format.js';
import { Clock } from './socket.js';
import { getJSON } from './api.js';
import { banner } from './status.js';
import { categoryName, renderAlerts } from './escalations.js';
import { renderViews } from './views.js';

export async function loadWall() {
  if (S.wallBusy || !S.token) return;
  S.wallBusy = true;
  try {
    S.wall = await getJSON('/v1/agents/wall');
    S.wallAt = Clock.now();
    $('wall').dataset.loaded = '1';
    renderWall();
  } catch (e) {
    if (e.status === 403) { // not (or no longer) a supervisor
      if (S.agent) S.agent.roles = [];
      renderViews();
    } else if (e.status !== 401) {
      $('wall-updated').textContent = t('wall.failed', { msg: e.message });
    }
  } finally {
    S.wallBusy = false;
  }
}

export function takeOver(sid) {
  S.takingOver.add(sid);
  if (!S.sock.send({ type: 'takeover', session_id: sid, data: {} })) {
    S.takingOver.delete(sid);
    banner('error', t('conn.lost'));
  }
}

function reassign(sid, to) {
  if (!to) return;
  S.transfers.set(sid, to);
  if (S.sock.send({ type: 'transfer', session_id: sid, data: { to_agent: to } })) banner('info', t('wall.reassigning', { id: label(sid), to }));
}

// atRisk: an emergency, escalated, alerted, or due within two minutes.
function atRisk(c) {
  const due = parseTime(c.due);
  return !!c.emergency || !!c.escalated || S.alerts.has(c.session_id) || (due > 0 && due - Clock.now() < 120000);
}

// riskRank orders the wall: emergencies, then the other chats at risk, then the rest.
const riskRank = (c) => (c.emergency ? 2 : atRisk(c) ? 1 : 0);

function dueText(c) {
  const cd = countdown(parseTime(c.due), Clock.now());
  if (!cd) return '—';
  const clock = c.clock ? t('sla.clock.' + c.clock) : '';
  return (clock ? clock + ' ' : '') + (cd.overdue ? t('due.overdue', { t: cd.text }) : cd.text);
}

export function renderWall() {
  const w = S.wall;
  if (!w || $('wall').hidden) return;
  $('wall-updated').textContent = t('wall.updated', { t: clockTime(S.wallAt) });
  const qb = $('wall-queues').tBodies[0];
  qb.replaceChildren(...(w.queues || []).map((q) => el('tr', { class: 'queue' + ((q.waiting || 0) > 0 ? ' busy' : '') },
    el('td', { text: (q.skills || []).length ? q.skills.join(', ') : t('wall.anySkill') }),
    el('td', { class: 'num', text: String(q.waiting || 0) }),
    el('td', { class: 'num', text: q.waiting ? mmss(q.longest_wait_s || 0) : '—' }))));
  $('wall-queues-empty').hidden = (w.queues || []).length > 0;
  const ab = $('wall-agents').tBodies[0];
  ab.replaceChildren(...(w.agents || []).map((a) => el('tr', { class: 'agent', dataset: { agent: a.id, presence: a.connected ? a.presence : 'disconnected' } },
    el('td', {}, el('span', { text: a.id }), (a.roles || []).includes('supervisor') ? el('span', { class: 'chip', text: t('wall.supervisor') }) : null),
    el('td', {}, el('span', { class: 'dot' }), el('span', { text: a.connected ? t('presence.' + a.presence) : t('wall.disconnected') })),
    el('td', { class: 'num' + (a.capacity && a.load >= a.capacity ? ' full' : ''), text: (a.load || 0) + ' / ' + (a.capacity || 0) }))));
  const me = myID();
  const others = (w.agents || []).filter((a) => a.connected);
  // An emergency this console was alerted to counts before the wall's next refresh says so.
  let stale = false;
  const chats = (w.chats || []).map((c) => {
    noteNumber(c.session_id, c.number);
    const a = S.alerts.get(c.session_id);
    if (c.emergency) S.emergencies.set(c.session_id, c.emergency);
    if (a && a.kind === 'emergency' && (a.state !== c.state || a.agent !== (c.agent_id || ''))) { // the banner follows the chat
      a.state = c.state;
      a.agent = c.agent_id || '';
      stale = true;
    }
    return !c.emergency && a && a.kind === 'emergency' ? Object.assign({}, c, { emergency: a.category }) : c;
  });
  // The server sends the chats at risk first; an alert this console holds counts too.
  chats.sort((x, y) => riskRank(y) - riskRank(x));
  if (stale) renderAlerts();
  const cb = $('wall-chats').tBodies[0];
  cb.replaceChildren(...chats.map((c) => wallRow(c, me, others)));
  $('wall-chats-empty').hidden = chats.length > 0;
  const focus = S.wallFocus && cb.querySelector('tr.wall-chat[data-sid="' + CSS.escape(S.wallFocus) + '"]');
  if (focus && S.wallScrolled !== S.wallFocus) { focus.scrollIntoView({ block: 'nearest' }); S.wallScrolled = S.wallFocus; }
}

function wallRow(c, me, others) {
  const sid = c.session_id;
  const sel = el('select', { class: 'reassign-to', 'aria-label': t('wall.reassignTo') },
    el('option', { value: '', text: t('wall.reassignTo') }),
    ...others.filter((a) => a.id !== c.agent_id).map((a) => el('option', { value: a.id, text: a.id + ' (' + (a.load || 0) + '/' + (a.capacity || 0) + ')' })));
  sel.value = S.reassign.get(sid) || '';
  sel.addEventListener('change', () => S.reassign.set(sid, sel.value));
  const since = parseTime(c.waiting_since);
  const escalated = c.escalated || (S.alerts.has(sid) && S.alerts.get(sid).kind !== 'emergency');
  const due = parseTime(c.due);
  return el('tr', { class: 'wall-chat' + (atRisk(c) ? ' at-risk' : '') + (escalated ? ' escalated' : '') + (c.emergency ? ' emergency' : '') +
      (S.wallFocus === sid ? ' focus' : ''), dataset: { sid, state: c.state, agent: c.agent_id || '', emergency: c.emergency || null } },
  el('td', {}, el('strong', { class: 'number', text: label(sid) }), el('span', { class: 'chip', text: channelName(c.channel) }),
    c.emergency ? el('span', { class: 'chip emergency', text: t('emergency.badge', { category: categoryName(c.emergency) }) }) : null,
    escalated ? el('span', { class: 'chip escalated', text: t('wall.escalated') }) : null),
  el('td', { text: t('state.' + c.state) }),
  el('td', { text: c.agent_id || '—' }),
  el('td', { class: 'num wall-since', dataset: { since: since || '' }, text: since ? mmss((Clock.now() - since) / 1000) : '—' }),
  el('td', { class: 'num wall-due' + (due && due - Clock.now() < 60000 ? ' urgent' : ''),
    dataset: { due: c.due || '', clock: c.clock || '' }, text: dueText(c) }),
  el('td', { class: 'wall-preview', text: c.preview || '' }),
  el('td', { class: 'actions' },
    c.agent_id === me ? el('span', { class: 'meta', text: t('wall.mine') })
      : el('button', { type: 'button', class: 'primary takeover', text: t('wall.takeover'), onclick: () => takeOver(sid) }),
    sel,
    el('button', { type: 'button', class: 'reassign', text: t('wall.reassign'), onclick: () => reassign(sid, sel.value) })));
}

// wallClocks updates the wall's countdowns between refreshes.
export function wallClocks() {
  if (!S.wall || $('wall').hidden) return;
  document.querySelectorAll('#wall-chats td.wall-due').forEach((td) => {
    const c = { due: td.dataset.due, clock: td.dataset.clock };
    td.textContent = dueText(c);
    const due = parseTime(c.due);
    td.classList.toggle('urgent', due > 0 && due - Clock.now() < 60000);
  });
  document.querySelectorAll('#wall-chats td.wall-since').forEach((td) => {
    const since = Number(td.dataset.since);
    if (since) td.textContent = mmss((Clock.now() - since) / 1000);
  });
}
