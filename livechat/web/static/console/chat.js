// chat.js: the chat panel of the selected chat: its head (number, channel,
// state, countdown, transfer and end), the transcript with attachments and
// internal notes, the typing indicator and the read receipts sent.
import { $, el } from './dom.js';
import { t, channelName, clockTime } from './i18n.js';
import { S, myID, label } from './state.js';
import { Clock } from './socket.js';
import { emergencyBadge } from './escalations.js';
import { slaText, renderDue } from './desk.js';
import { renderVideo } from './call.js';
import { renderPanel } from './panel.js';
import { resend, renderComposer } from './composer.js';
import { attachmentList } from './media.js';

let shown = '';

export function renderChat() {
  const s = S.sessions.get(S.current);
  $('chat-none').hidden = !!s;
  $('chat-main').hidden = !s;
  if (!s) { shown = ''; return; }
  $('chat-title').replaceChildren(t('chat.title', { id: label(s.id) }), emergencyBadge(s.id) || '');
  $('chat-title').dataset.number = S.numbers.get(s.id) || '';
  $('chat-meta').textContent = [channelName(s.channel), t('state.' + s.state),
    s.queuedAt ? t('chat.since', { t: clockTime(s.queuedAt) }) : ''].filter(Boolean).join(' · ');
  const closed = s.state === 'closed';
  $('composer').hidden = closed;
  $('transfer').hidden = closed;
  $('close-session').hidden = closed;
  $('chat-closed').hidden = !closed;
  if (closed) $('closed-text').textContent = s.closedBy && s.closedBy === myID() ? t('closed.byMe') : t('chat.closed');
  $('close-session').textContent = S.closeArmed > Date.now() ? t('close.confirm') : t('close.button');
  $('transfer-msg').hidden = closed || !s.transferMsg;
  $('transfer-msg').textContent = s.transferMsg || '';
  const sla = $('sla');
  sla.hidden = !s.sla;
  if (s.sla) { sla.textContent = slaText(s.sla, s.id); sla.className = 'sla ' + s.sla.state; }
  renderVideo(s);
  renderPanel(s);
  renderTranscript(s);
  renderComposer();
  renderDue();
  renderTyping();
  markRead(s);
}

// messageItem is one message of a transcript (the live chat's or, read
// only, a closed chat's in the history view).
export function messageItem(sid, m, opts = {}) {
  const me = myID();
  const mine = m.from === 'agent' && m.agent === me;
  const who = m.from === 'citizen' ? t('from.citizen')
    : m.from === 'agent' ? (mine ? t('from.me') : t('from.agent', { id: m.agent }))
      : m.from === 'note' ? t('note.from', { id: m.agent === me ? t('from.me') : m.agent || '?' }) : t('from.system');
  const files = m.attachments || [];
  const text = m.text || (files.length && !opts.media ? t('chat.files', { n: files.length }) : '');
  return el('li', { class: 'msg ' + m.from + (mine ? ' mine' : ''), dataset: { seq: m.seq } },
    m.from === 'note' ? el('span', { class: 'note-tag', text: t('note.tag') }) : null,
    el('div', { class: 'bubble' }, text ? el('span', { class: 'text', text }) : null,
      opts.media ? attachmentList(sid, m.seq, files) : null),
    el('div', { class: 'info' }, el('span', { text: who + ' · ' + clockTime(m.at) }),
      m.partial ? el('span', { class: 'partial', text: t('chat.partial', { parts: m.partial }) }) : null,
      opts.read && m.from === 'agent' && m.seq <= opts.read ? el('span', { class: 'read', text: t('chat.read') }) : null));
}

function renderTranscript(s) {
  const ol = $('transcript');
  const stick = shown !== s.id || ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
  ol.replaceChildren();
  for (const m of [...s.msgs.values()].sort((a, b) => a.seq - b.seq)) {
    ol.append(messageItem(s.id, m, { media: true, read: s.citizenRead }));
  }
  for (const p of s.pending.values()) {
    ol.append(el('li', { class: 'msg ' + (p.note ? 'note' : 'agent') + ' mine pending' + (p.failed ? ' failed' : ''), dataset: { id: p.id } },
      el('div', { class: 'bubble' }, el('span', { class: 'text', text: p.text })),
      el('div', { class: 'info' }, p.failed
        ? el('button', { class: 'link', type: 'button', text: t('chat.failed'), onclick: () => resend(s, p) })
        : el('span', { text: t('chat.pending') }))));
  }
  if (stick) ol.scrollTop = ol.scrollHeight;
  shown = s.id;
}

export function renderTyping() {
  const s = S.sessions.get(S.current);
  $('typing').hidden = !(s && s.typingUntil > Clock.now());
}

// markRead tells the citizen what the agent has seen.
export function markRead(s) {
  if (!s || s.state !== 'active' || document.hidden) return;
  let upTo = 0;
  for (const m of s.msgs.values()) if (m.from === 'citizen') upTo = Math.max(upTo, m.seq);
  s.unread = 0;
  if (upTo > s.sentRead && S.sock.send({ type: 'read', session_id: s.id, data: { up_to_seq: upTo } })) s.sentRead = upTo;
}
