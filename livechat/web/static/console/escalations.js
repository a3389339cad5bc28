// escalations.js: escalation and emergency banners. An escalation (a chat
// past its deadline) stays on top until dismissed, taken over or the chat
// ends; an emergency (alert kind "emergency": the citizen wrote of a fire, a
// medical emergency, …) gets a larger red banner above them, and its chat an
// emergency badge on the offer, the desk and the wall. Supervisors get them,
// and every available agent when no supervisor is on duty.
import { $, el } from './dom.js';
import { t, nameOr, clockTime } from './i18n.js';
import { S, isSupervisor, myID, label, noteNumber } from './state.js';
import { parseTime } from './format.js';
import { Clock } from './socket.js';
import { showView, select } from './views.js';
import { takeOver, renderWall } from './wall.js';
import { notify } from './alerts.js';

export function onAlert(f, sid, d) {
  if (!sid) return;
  noteNumber(sid, d.number);
  const kind = d.kind || 'escalated';
  const old = S.alerts.get(sid);
  if (kind !== 'emergency' && old && old.kind === 'emergency') return; // an escalation does not hide an emergency
  if (kind === 'emergency') S.emergencies.set(sid, d.category || 'other');
  S.alerts.delete(sid); // newest last
  const a = { sid, kind, clock: d.clock || '', agent: d.agent_id || '', due: parseTime(d.due), category: d.category || 'other',
    state: d.state || '', at: parseTime(f.at) || Clock.now(), supervisors: d.supervisors };
  S.alerts.set(sid, a);
  renderAlerts();
  if (S.view === 'wall') renderWall();
  if (!old || old.kind !== kind) notify('alert', kind === 'emergency' ? t('alert.emergencyTitle') : t('alert.title'), alertText(a), sid);
}

export function dropAlert(sid) {
  if (S.alerts.delete(sid)) renderAlerts();
}

// categoryName is an emergency's category in the console's language.
export const categoryName = (c) => nameOr('emergency.', c, t('emergency.unknown'));

export function emergencyBadge(sid) {
  if (!S.emergencies.has(sid)) return null;
  const c = S.emergencies.get(sid);
  return el('span', { class: 'chip emergency', text: c ? t('emergency.badge', { category: categoryName(c) }) : t('emergency.unknown') });
}

function alertText(a) {
  const me = myID();
  if (a.kind === 'emergency') {
    const v = { id: label(a.sid), category: categoryName(a.category), agent: a.agent };
    const mine = a.agent !== '' && a.agent === me && S.sessions.has(a.sid);
    let text = mine ? t('alert.emergencyMine', v) : a.agent === '' ? t('alert.emergencyQueued', v)
      : a.state === 'offered' ? t('alert.emergencyOffered', v) : t('alert.emergencyActive', v);
    text += ' ' + t('alert.emergencyTold');
    if (a.supervisors === false || (a.supervisors === undefined && !isSupervisor())) text += ' ' + t('alert.noSupervisor');
    return text;
  }
  const clock = a.clock ? t('sla.clock.' + a.clock) : t('alert.deadline');
  const v = { id: label(a.sid), clock, due: a.due ? clockTime(a.due) : '—', agent: a.agent };
  let text = a.agent === '' ? t('alert.queued', v) : a.agent === me ? t('alert.mine', v) : t('alert.escalated', v);
  // Sent to agents because no supervisor is on duty: say so.
  if (a.supervisors === false || (a.supervisors === undefined && !isSupervisor())) text += ' ' + t('alert.noSupervisor');
  return text;
}

export function renderAlerts() {
  const ul = $('alerts');
  ul.replaceChildren();
  // Emergencies above escalations, the newest first within each.
  const list = [...S.alerts.values()].reverse().sort((x, y) => Number(y.kind === 'emergency') - Number(x.kind === 'emergency'));
  for (const a of list) {
    const mine = S.sessions.has(a.sid);
    const em = a.kind === 'emergency';
    ul.append(el('li', { class: 'alert ' + a.kind, role: em ? 'alert' : null, dataset: { sid: a.sid, agent: a.agent, category: em ? a.category : null } },
      em ? el('span', { class: 'alert-icon', 'aria-hidden': 'true', text: '!' }) : null,
      el('strong', { text: em ? t('alert.emergencyTitle') : t('alert.title') }),
      em ? el('span', { class: 'alert-category', text: categoryName(a.category) }) : null,
      el('span', { class: 'alert-text', text: alertText(a) }),
      mine ? el('button', { type: 'button', class: 'open', text: t('alert.open'), onclick: () => { showView('desk'); select(a.sid); } }) : null,
      isSupervisor() && !mine ? el('button', { type: 'button', class: 'primary takeover', text: t('wall.takeover'), onclick: () => takeOver(a.sid) }) : null,
      isSupervisor() ? el('button', { type: 'button', class: 'ghost to-wall', text: t('alert.toWall'), onclick: () => { S.wallFocus = a.sid; showView('wall'); } }) : null,
      el('button', { type: 'button', class: 'x', 'aria-label': t('alert.dismiss'), text: '×', onclick: () => dropAlert(a.sid) })));
  }
  ul.hidden = S.alerts.size === 0;
}
