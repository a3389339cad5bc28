// frames.js: what the agent's websocket brings (contract §4): the welcome
// with the agent's chats, offers, a chat's session view (its number, the
// citizen, the triage-linked history), messages and notes, typing and read
// receipts, closes, SLA warnings, alerts and errors.
import { t } from './i18n.js';
import { S, EMERGENCY_PRIORITY, label, noteNumber } from './state.js';
import { parseTime } from './format.js';
import { Clock } from './socket.js';
import { setConn, setPresence, banner, dropBanner } from './status.js';
import { renderViews, showView } from './views.js';
import { render } from './desk.js';
import { renderTyping } from './chat.js';
import { flushPending } from './composer.js';
import { startCall, endCall } from './call.js';
import { onAlert, dropAlert } from './escalations.js';
import { notify, notifyOffer } from './alerts.js';
import { renderRepliesButton } from './replies.js';
import { slaText } from './desk.js';

function ensure(id) {
  let s = S.sessions.get(id);
  if (!s) {
    s = { id, state: 'active', channel: '', preview: '', queuedAt: 0, lastCitizenAt: 0, lastAgentAt: 0, lastSeq: 0,
      msgs: new Map(), pending: new Map(), citizenRead: 0, sentRead: 0, typingUntil: 0, sla: null, slaAt: 0, unread: 0, closedBy: null,
      video: false, ice: null, call: null, callState: '', history: [], citizen: null };
    S.sessions.set(id, s);
  }
  return s;
}

function applyView(v) {
  const s = ensure(v.session_id);
  s.state = v.state || s.state;
  s.channel = v.channel || s.channel;
  s.preview = v.preview || s.preview;
  s.queuedAt = parseTime(v.queued_at) || s.queuedAt;
  s.lastCitizenAt = Math.max(s.lastCitizenAt, parseTime(v.last_citizen_at));
  s.lastAgentAt = Math.max(s.lastAgentAt, parseTime(v.last_agent_at));
  s.video = s.video || !!v.video;
  if (Array.isArray(v.ice_servers)) s.ice = v.ice_servers;
  if (Array.isArray(v.history)) s.history = v.history;
  if (v.citizen && typeof v.citizen === 'object') s.citizen = v.citizen;
  noteNumber(s.id, v.number);
  return s;
}

function onSession(sid, d) {
  if (d.state === 'active') {
    S.offers.delete(sid);
    const s = applyView(d);
    if (!S.current || s.video) S.current = sid;
    if (s.video && S.accepting.delete(sid)) startCall(s);
    if (S.takingOver.delete(sid)) { // taken over from the wall: open it on the desk
      S.current = sid;
      dropAlert(sid);
      showView('desk');
      banner('info', t('takeover.done', { id: label(sid) }));
    }
  } else if (d.state === 'taken_over') {
    endCall(S.sessions.get(sid));
    S.sessions.delete(sid);
    S.transfers.delete(sid);
    if (S.current === sid) S.current = '';
    dropAlert(sid);
    banner('notice', t('session.takenOver', { id: label(sid), by: d.by || '?' }), 'taken-' + sid);
  } else if (d.state === 'withdrawn') {
    if (S.offers.delete(sid) && d.reason === 'offer_timeout') banner('info', t('offer.expired'));
  } else if (d.state === 'transferred' || d.state === 'escalated') {
    endCall(S.sessions.get(sid));
    S.sessions.delete(sid);
    S.transfers.delete(sid);
    if (S.current === sid) S.current = '';
    banner('info', t('session.' + d.state));
  }
}

export function frame(f) {
  Clock.observe(f.at);
  const d = f.data || {};
  const sid = f.session_id || d.session_id || '';
  if (sid && d.number) noteNumber(sid, d.number);
  switch (f.type) {
    case 'welcome': {
      S.sock.ok();
      setConn('up');
      S.agent = d.agent || S.agent;
      S.windowS = d.response_window_s || S.windowS;
      setPresence(d.presence || S.presence);
      renderViews();
      renderRepliesButton();
      const listed = new Set();
      for (const v of d.sessions || []) listed.add(applyView(v).id);
      for (const s of [...S.sessions.values()]) {
        if (!listed.has(s.id) && s.state !== 'closed') S.sessions.delete(s.id); // moved on while we were away
      }
      S.offers.clear(); // the server re-sends the offers still open
      for (const s of S.sessions.values()) flushPending(s);
      if (S.current && !S.sessions.has(S.current)) S.current = '';
      break;
    }
    case 'offer': {
      const fresh = !S.offers.has(sid);
      S.offers.set(sid, Object.assign({}, d, { received: Clock.now() }));
      // The offer says only the priority; an emergency has the highest (the hub's emergencyPriority).
      if ((Number(d.priority) || 0) >= EMERGENCY_PRIORITY && !S.emergencies.has(sid)) S.emergencies.set(sid, '');
      if (fresh) notifyOffer(sid, d);
      break;
    }
    case 'session':
      onSession(sid, d);
      break;
    case 'message':
      onMessage(f, sid, d);
      break;
    case 'typing': {
      const s = S.sessions.get(sid);
      if (s) {
        s.typingUntil = d.typing === false ? 0 : Clock.now() + 6000;
        if (s.typingUntil) setTimeout(renderTyping, 6100);
      }
      renderTyping();
      return;
    }
    case 'read': {
      const s = S.sessions.get(sid);
      if (s) s.citizenRead = Math.max(s.citizenRead, Number(d.up_to_seq) || 0);
      break;
    }
    case 'close': {
      S.offers.delete(sid);
      dropAlert(sid);
      const s = S.sessions.get(sid);
      if (s) { s.state = 'closed'; s.closedBy = d.by === undefined ? '' : d.by; s.sla = null; endCall(s); }
      break;
    }
    case 'rtc.offer':
    case 'rtc.answer':
    case 'rtc.ice': {
      const s = S.sessions.get(sid);
      if (s && s.call) s.call.onFrame(f); // another tab of this agent may hold the call
      return;
    }
    case 'sla': {
      // A supervisor also gets the sla frames of others' chats: a banner, not a chat of theirs.
      const sla = { state: d.state, clock: d.clock, due: parseTime(d.due) };
      const s = S.sessions.get(sid);
      if (s) { s.sla = sla; s.slaAt = parseTime(f.at) || Clock.now(); }
      banner(d.state === 'breached' ? 'error' : 'warn', slaText(sla, sid), 'sla-' + sid);
      notify('sla', t(d.state === 'breached' ? 'notify.breached' : 'notify.sla', { id: label(sid) }), slaText(sla, sid), sid);
      break;
    }
    case 'presence':
      setPresence(d.status);
      break;
    case 'alert':
      onAlert(f, sid, d);
      break;
    case 'error':
      onError(f, sid, d);
      break;
    default:
      return;
  }
  render();
}

function onMessage(f, sid, d) {
  const s = ensure(sid);
  if (f.id && s.pending.has(f.id)) s.pending.delete(f.id);
  if (!f.seq || s.msgs.has(f.seq)) return; // replayed twice: keep one
  const at = parseTime(f.at) || Clock.now();
  s.msgs.set(f.seq, { seq: f.seq, id: f.id, at, from: d.from || 'system', text: d.text || '', agent: d.agent_id || '',
    attachments: Array.isArray(d.attachments) ? d.attachments : [],
    partial: d.meta && d.meta.incomplete === 'true' ? (d.meta.missing_parts || '?') : '' });
  s.lastSeq = Math.max(s.lastSeq, f.seq);
  if (d.from === 'citizen') {
    s.lastCitizenAt = Math.max(s.lastCitizenAt, at);
    s.typingUntil = 0;
    if (S.current !== sid || document.hidden) s.unread++;
  } else if (d.from === 'agent') {
    s.lastAgentAt = Math.max(s.lastAgentAt, at);
    if (s.sla && s.sla.clock !== 'handling' && at >= s.slaAt) { // answered: the response warning is moot
      s.sla = null;
      dropBanner('sla-' + sid);
    }
  }
}

function onError(f, sid, d) {
  const s = S.sessions.get(sid);
  if (s && f.id && s.pending.has(f.id)) s.pending.get(f.id).failed = true;
  if (d.code === 'session_closed' && s) s.state = 'closed';
  if (d.code === 'agent_unavailable') { // a transfer or reassignment refused: the chat stays where it was
    const to = S.transfers.get(sid) || '?';
    S.transfers.delete(sid);
    const text = t(s ? 'transfer.refusedMine' : 'transfer.refused', { to, id: label(sid) });
    if (s) { s.transferMsg = text; if (S.current !== sid) S.current = sid; }
    banner('error', text, 'transfer-' + sid);
    return;
  }
  if (S.takingOver.delete(sid)) { banner('error', t('takeover.failed', { id: label(sid), msg: d.message || d.code || '' })); return; }
  banner('error', t('error', { code: d.code || '?', msg: d.message || '' }));
}
