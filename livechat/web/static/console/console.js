// console.js: the agent console's entry (an ES module; the others are one
// per concern). It logs the agent in (POST /v1/agents/login), keeps one
// websocket to /v1/ws/agent (hello first, with {sessions: {id: last_seq}}
// to resume), routes its frames (frames.js) and ticks the clocks.
//
//   desk.js     offers, the agent's chats and their countdowns
//   chat.js     the selected chat; composer.js what the agent writes (replies, notes)
//   panel.js    the citizen beside the chat; media.js attachments; call.js video
//   replies.js  canned replies ("/" + keyword); history.js search of closed chats
//   wall.js     the supervisor's wall; escalations.js escalation and emergency banners
//   satisfaction.js  the wall's satisfaction report (rates.js: its pure logic)
//   alerts.js   sound, desktop notification and tab-title counter (settings.js)
//   format.js, match.js, settings.js, rates.js: pure logic, unit-tested with node --test
import { $ } from './dom.js';
import { I18n, t } from './i18n.js';
import { S, TOKEN_KEY } from './state.js';
import { Socket, wsURL } from './socket.js';
import { onExpired } from './api.js';
import { frame } from './frames.js';
import { setConn, banner, renderPresenceBanner, goAvailable } from './status.js';
import { showView } from './views.js';
import { render, deskClocks } from './desk.js';
import { renderChat, renderTyping, markRead } from './chat.js';
import { renderAlerts } from './escalations.js';
import { renderWall, wallClocks } from './wall.js';
import { endCall, startCall } from './call.js';
import { wireComposer, renderComposer } from './composer.js';
import { wireMedia } from './media.js';
import { wireHistory, resetHistory } from './history.js';
import { wireAlerts, startAlerts, askPermission, renderTitle } from './alerts.js';
import { wireSatisfaction, resetSatisfaction } from './satisfaction.js';

async function login(ev) {
  ev.preventDefault();
  askPermission(); // a click: the browser may ask for notifications now
  const msg = $('login-msg');
  msg.textContent = '';
  $('login-submit').disabled = true;
  try {
    const r = await fetch('/v1/agents/login', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ id: $('login-id').value.trim(), password: $('login-pw').value }),
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok) {
      msg.textContent = r.status === 401 ? t('login.failed') : t('login.error', { msg: (body.error && body.error.message) || r.status });
      return;
    }
    S.token = body.token;
    S.agent = body.agent;
    try { sessionStorage.setItem(TOKEN_KEY, JSON.stringify({ token: S.token, agent: S.agent })); } catch (e) { /* ignore */ }
    $('login-pw').value = '';
    start();
  } catch (e) {
    msg.textContent = t('login.error', { msg: e.message });
  } finally {
    $('login-submit').disabled = false;
  }
}

function showLogin(why) {
  if (S.sock) S.sock.close();
  S.sock = null;
  S.token = '';
  endCall(S.sessions.get($('video').dataset.sid || ''));
  S.sessions.clear();
  S.offers.clear();
  S.numbers.clear();
  S.current = '';
  S.alerts.clear();
  S.emergencies.clear();
  S.wall = null;
  S.view = 'desk';
  clearInterval(S.wallTimer);
  S.wallTimer = 0;
  resetHistory();
  resetSatisfaction();
  try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
  for (const id of ['desk', 'wall', 'history-view', 'settings', 'replies-editor']) $(id).hidden = true;
  $('login-view').hidden = false;
  for (const id of ['presence-wrap', 'logout', 'me', 'views', 'presence-banner', 'settings-open', 'replies-open']) $(id).hidden = true;
  renderAlerts();
  setConn('idle');
  $('login-msg').textContent = why ? t(why) : '';
  $('login-id').focus();
}

function start() {
  $('login-view').hidden = true;
  showView('desk');
  for (const id of ['presence-wrap', 'logout', 'me', 'settings-open']) $(id).hidden = false;
  $('me').textContent = S.agent ? S.agent.id : '';
  startAlerts();
  S.sock = new Socket(() => wsURL('/v1/ws/agent', S.token), {
    onopen: hello,
    onframe: frame,
    onclose: (code) => {
      if (code === 4001) { showLogin('login.expired'); return 'stop'; }
      if (code === 4003 || code === 4009) { setConn('stopped'); banner('error', t('conn.stopped', { code })); return 'stop'; }
      setConn('down');
      return 'retry';
    },
    onretry: (ms) => setConn('down', Math.ceil(ms / 1000)),
  });
  setConn('connecting');
  S.sock.connect();
  render();
}

// hello resumes every session at the last seq we hold.
function hello() {
  const sessions = {};
  for (const s of S.sessions.values()) if (s.state !== 'closed') sessions[s.id] = s.lastSeq;
  const data = { sessions };
  if (S.presenceChosen) data.presence = S.presence;
  S.sock.send({ type: 'hello', data });
}

// tick refreshes the clocks once a second without touching the transcript.
function tick() {
  if (!$('desk').hidden) {
    deskClocks();
    renderTyping();
  }
  wallClocks();
}

function wire() {
  onExpired(() => showLogin('login.expired'));
  $('login').addEventListener('submit', login);
  $('lang').addEventListener('click', () => I18n.toggle());
  I18n.onchange(() => {
    setConn($('conn').dataset.state);
    if (!$('desk').hidden) render();
    renderComposer();
    renderAlerts();
    renderWall();
    renderTitle();
  });
  $('go-available').addEventListener('click', goAvailable);
  document.querySelectorAll('#views .view').forEach((b) => b.addEventListener('click', () => showView(b.dataset.view)));
  $('logout').addEventListener('click', () => {
    if (S.sock) S.sock.send({ type: 'presence', data: { status: 'offline' } });
    setTimeout(() => showLogin(''), 100);
  });
  $('presence').addEventListener('change', (e) => {
    S.presenceChosen = true;
    S.presence = e.target.value;
    S.sock.send({ type: 'presence', data: { status: e.target.value } });
  });
  wireComposer();
  wireMedia();
  wireHistory();
  wireAlerts();
  wireSatisfaction();
  $('video-start').addEventListener('click', () => { const s = S.sessions.get(S.current); if (s && s.video) startCall(s); });
  document.addEventListener('visibilitychange', () => markRead(S.sessions.get(S.current)));
  setInterval(tick, 1000);
}

async function main() {
  await I18n.load('i18n.json');
  wire();
  let saved = null;
  try { saved = JSON.parse(sessionStorage.getItem(TOKEN_KEY) || 'null'); } catch (e) { /* ignore */ }
  if (saved && saved.token) {
    S.token = saved.token;
    S.agent = saved.agent;
    start();
  } else {
    showLogin('');
  }
  renderPresenceBanner();
  renderChat();
  document.body.dataset.ready = '1';
}

main();
