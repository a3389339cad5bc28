// composer.js: what the agent writes: a reply to the citizen (frame
// message) or an internal note (frame note, seen by agents only, stored
// with the transcript and never sent to the citizen), the typing indicator,
// transfer and end. A message not echoed within 10 s is offered for
// resending rather than sent twice behind the agent's back.
import { $ } from './dom.js';
import { t } from './i18n.js';
import { S } from './state.js';
import { newID } from './socket.js';
import { render } from './desk.js';
import { renderChat } from './chat.js';
import { wireReplies } from './replies.js';

let noteMode = false;

function frameOf(s, p) {
  return { type: p.note ? 'note' : 'message', id: p.id, session_id: s.id, data: { text: p.text } };
}

export function send(s, text, note) {
  const id = newID(note ? 'n' : 'a');
  const p = { id, text, note: !!note, sent: false, failed: false };
  s.pending.set(id, p);
  p.sent = S.sock.send(frameOf(s, p));
  if (p.sent) watchAck(s, p);
  if (!note) typing(s, false);
}

function watchAck(s, p) {
  setTimeout(() => { if (s.pending.get(p.id) === p) { p.failed = true; render(); } }, 10000);
}

export function flushPending(s) {
  for (const p of s.pending.values()) {
    if (!p.sent && !p.failed) { p.sent = S.sock.send(frameOf(s, p)); if (p.sent) watchAck(s, p); }
  }
}

export function resend(s, p) {
  s.pending.delete(p.id);
  send(s, p.text, p.note);
  render();
}

function typing(s, on) {
  if (s.state !== 'active') return;
  const now = Date.now();
  if (on && now - S.lastTyping < 3000) return;
  if (!on && !S.lastTyping) return;
  S.lastTyping = on ? now : 0;
  S.sock.send({ type: 'typing', session_id: s.id, data: { typing: on } });
}

// setNoteMode switches the composer between a reply and an internal note.
export function setNoteMode(on) {
  noteMode = !!on;
  renderComposer();
}

export function renderComposer() {
  $('composer').classList.toggle('note-mode', noteMode);
  $('mode-reply').setAttribute('aria-pressed', String(!noteMode));
  $('mode-note').setAttribute('aria-pressed', String(noteMode));
  $('reply').placeholder = t(noteMode ? 'note.placeholder' : 'chat.placeholder');
  $('send').textContent = t(noteMode ? 'note.send' : 'chat.send');
  $('note-hint').hidden = !noteMode;
}

export function wireComposer() {
  $('composer').addEventListener('submit', (e) => {
    e.preventDefault();
    const s = S.sessions.get(S.current);
    const text = $('reply').value.trim();
    if (!s || !text) return;
    $('reply').value = '';
    send(s, text, noteMode);
    render();
  });
  $('mode-reply').addEventListener('click', () => setNoteMode(false));
  $('mode-note').addEventListener('click', () => setNoteMode(true));
  $('reply').addEventListener('input', () => { const s = S.sessions.get(S.current); if (s && !noteMode) typing(s, true); });
  $('reply').addEventListener('blur', () => { const s = S.sessions.get(S.current); if (s && S.lastTyping) typing(s, false); });
  wireReplies($('reply'), () => $('composer').requestSubmit());
  $('transfer').addEventListener('submit', (e) => {
    e.preventDefault();
    const to = $('transfer-to').value.trim();
    if (!to || !S.current) return;
    const s = S.sessions.get(S.current);
    if (s) s.transferMsg = '';
    S.transfers.set(S.current, to);
    S.sock.send({ type: 'transfer', session_id: S.current, data: { [$('transfer-kind').value]: to } });
    $('transfer-to').value = '';
    renderChat();
  });
  $('close-session').addEventListener('click', () => {
    if (S.closeArmed > Date.now()) {
      S.closeArmed = 0;
      S.sock.send({ type: 'close', session_id: S.current, data: {} });
    } else {
      S.closeArmed = Date.now() + 3000;
      setTimeout(renderChat, 3100);
    }
    renderChat();
  });
  $('dismiss').addEventListener('click', () => { S.sessions.delete(S.current); S.current = ''; render(); });
}
