// widget.js: the citizen chat. Gets a citizen token, keeps one websocket to
// /v1/ws/citizen (hello first; after a drop, hello again with session_id and
// last_seq so that nothing is lost or shown twice), shows the queue, the chat,
// typing and read receipts, and the end of the conversation. "Sign-language
// video" asks POST /v1/channels/sign-language/sessions: when the service is
// open the widget opens a video session (hello {"video": true}) and answers
// the agent's WebRTC offer (video.js); when it is closed it says when it
// opens and offers text chat or a call-back request.
//
// A conversation starts with the citizen's first message: until then the
// session is "new" (a reserved id, nothing stored, no agent offered). When no
// agent on duty could take the chat ("no_agents"), the widget says so and
// offers to leave the question as a message (frame leave_message), which the
// server keeps as an ordinary request with its 24-hour clock.
//
// When an agent closes the chat, a survey frame (just before the close frame)
// brings the follow-up survey: the closing area then shows a rating card
// (resolved yes/no, one of three ratings, an optional comment) that posts to
// POST /v1/surveys/{code} on this origin, and a link to the survey page.
'use strict';

(() => {
  const { I18n, newID, Clock, parseTime, clockTime, wsURL, Socket, el } = Lib;
  const SIGN = '/v1/channels/sign-language/';
  const t = (k, v) => I18n.t(k, v);
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'hotline12345.citizen';
  const embedded = new URLSearchParams(location.search).get('embed') === '1';

  const W = {
    token: '',
    sock: null,
    conn: 'connecting', // connecting | up | down
    sid: '',
    state: '', // new | queued | offered | active | closed
    pos: 0,
    wait: 0, // estimated wait in seconds; 0: no estimate
    noAgents: false, // no agent on duty could take this chat
    sentAny: false, // a message went out: the session exists on the server
    leaving: false, // leave_message sent, close not yet received
    reason: '',
    msgs: new Map(), // seq → message
    pending: new Map(), // client id → {text, sent, failed}
    lastSeq: 0,
    agentRead: 0,
    sentRead: 0,
    typingUntil: 0,
    lastTyping: 0,
    closed: null, // {by, reason}
    endArmed: 0,
    authFailures: 0,
    announced: false, // told the embedding page that the chat is connected
    video: false, // the session is a sign-language video call
    ice: [],
    call: null,
    callState: '',
    survey: null, // {code, url, note, busy, shown}: the survey frame of this conversation
  };

  // ---- token and connection ------------------------------------------------

  async function getToken(fresh) {
    if (!fresh) {
      try { W.token = sessionStorage.getItem(TOKEN_KEY) || ''; } catch (e) { W.token = ''; }
      if (W.token) return;
    }
    const r = await fetch('/v1/citizen/sessions', {
      method: 'POST', credentials: 'same-origin', headers: { 'Content-Type': 'application/json' }, body: '{}',
    });
    const body = await r.json().catch(() => ({}));
    if (!r.ok || !body.token) throw new Error((body.error && body.error.message) || String(r.status));
    W.token = body.token;
    try { sessionStorage.setItem(TOKEN_KEY, W.token); } catch (e) { /* ignore */ }
  }

  function connect() {
    W.sock = new Socket(() => wsURL('/v1/ws/citizen', W.token), {
      onopen: hello,
      onframe: frame,
      onclose: (code) => {
        W.conn = 'down';
        render();
        if (code === 4001) { reauth(); return 'stop'; }
        if (code === 4003) { showError(t('error.refused')); return 'stop'; }
        return 'retry';
      },
    });
    W.sock.connect();
  }

  // reauth gets a new token when the old one expired, then reconnects.
  async function reauth() {
    if (++W.authFailures > 3) { showError(t('error.auth')); return; }
    try {
      await getToken(true);
      W.sock.connect();
    } catch (e) {
      showError(t('error.generic', { msg: e.message }));
      setTimeout(reauth, 5000);
    }
  }

  // hello opens a conversation or rejoins it. A reserved id that never saw
  // a message is not rejoined: nothing was stored, so a fresh hello (with the
  // language shown now) reserves another.
  function hello() {
    const f = { type: 'hello', data: { channel: 'web', language: I18n.lang } };
    if (W.video) f.data.video = true;
    if (W.sid && (W.state !== 'new' || W.sentAny)) { f.session_id = W.sid; f.last_seq = W.lastSeq; }
    W.sock.send(f);
  }

  // ---- frames --------------------------------------------------------------

  function frame(f) {
    Clock.observe(f.at);
    const d = f.data || {};
    switch (f.type) {
      case 'welcome':
        W.sock.ok();
        W.authFailures = 0;
        W.conn = 'up';
        W.sid = d.session_id || f.session_id;
        queue(d);
        if (W.video && d.video) {
          if (Array.isArray(d.ice_servers)) W.ice = d.ice_servers;
          if (!W.call && W.state !== 'closed') startCall();
        }
        if (W.state === 'closed' && !W.closed) W.closed = { by: '', reason: '' };
        flushPending();
        if (embedded && !W.announced) { W.announced = true; parent.postMessage({ type: 'hotline12345:ready' }, '*'); }
        break;
      case 'queue':
        queue(d);
        break;
      case 'message':
        onMessage(f, d);
        break;
      case 'typing':
        W.typingUntil = d.typing === false ? 0 : Clock.now() + 6000;
        if (W.typingUntil) setTimeout(renderTyping, 6100);
        renderTyping();
        return;
      case 'read':
        W.agentRead = Math.max(W.agentRead, Number(d.up_to_seq) || 0);
        break;
      case 'rtc.offer':
      case 'rtc.answer':
      case 'rtc.ice':
        if (W.call) W.call.onFrame(f);
        return;
      case 'survey':
        if (f.session_id && W.sid && f.session_id !== W.sid) return; // an old conversation
        if (!d.code) return;
        $('survey-form').reset();
        W.survey = { code: String(d.code), url: httpURL(d.url), note: '', busy: false, shown: false };
        break;
      case 'close':
        endCall();
        W.state = 'closed';
        W.closed = { by: d.by || '', reason: d.reason || '', envelope: d.number || d.envelope_id || '' }; // the request number, read out on the phone
        W.typingUntil = 0;
        W.leaving = false;
        break;
      case 'error': {
        const p = f.id && W.pending.get(f.id);
        if (p) p.failed = true;
        W.leaving = false;
        if (d.code === 'session_closed') { W.state = 'closed'; W.closed = W.closed || { by: '', reason: '' }; }
        if (d.code === 'service_closed') { restart(false); signLanguage(); return; } // the hours ended meanwhile
        showError(t('error.generic', { msg: d.message || d.code || '' }));
        break;
      }
      default:
        return;
    }
    render();
  }

  // queue takes the state, the position and the estimate of a welcome or
  // queue frame. Without an estimate (or with no_agents) none is shown.
  function queue(d) {
    if (d.state) W.state = d.state;
    W.pos = Number(d.queue_position) || 0;
    W.wait = d.no_agents ? 0 : Number(d.estimated_wait_s) || 0;
    W.noAgents = d.no_agents === true;
    W.reason = d.reason || '';
  }

  function onMessage(f, d) {
    if (f.session_id && W.sid && f.session_id !== W.sid) return; // an old conversation
    if (f.id && W.pending.has(f.id)) W.pending.delete(f.id);
    if (!f.seq || W.msgs.has(f.seq)) return;
    W.msgs.set(f.seq, { seq: f.seq, from: d.from || 'system', text: d.text || '', at: parseTime(f.at) || Clock.now(),
      files: Array.isArray(d.attachments) ? d.attachments.length : 0 });
    W.lastSeq = Math.max(W.lastSeq, f.seq);
    if (d.from === 'agent') W.typingUntil = 0;
  }

  // ---- actions -------------------------------------------------------------

  function sendText(text) {
    const id = newID('c');
    const p = { text, sent: false, failed: false };
    W.pending.set(id, p);
    trySend(id, p);
    typing(false);
    render();
  }

  function trySend(id, p) {
    if (!W.sid || W.state === 'closed') return;
    p.sent = W.sock.send({ type: 'message', id, session_id: W.sid, data: { text: p.text } });
    if (p.sent) W.sentAny = true;
    // Not echoed within 10 s (dropped connection): offer a resend rather
    // than sending twice behind the citizen's back.
    if (p.sent) setTimeout(() => { if (W.pending.get(id) === p) { p.failed = true; render(); } }, 10000);
  }

  function flushPending() {
    for (const [id, p] of W.pending) if (!p.sent && !p.failed) trySend(id, p);
  }

  // stored: the server holds the session (a reserved id holds nothing until
  // the first message is echoed; frames naming it would be refused).
  const stored = () => !!W.sid && W.state !== 'closed' && (W.state !== 'new' || W.lastSeq > 0);

  function typing(on) {
    if (!stored()) return;
    const now = Date.now();
    if (on && now - W.lastTyping < 3000) return;
    if (!on && !W.lastTyping) return;
    W.lastTyping = on ? now : 0;
    W.sock.send({ type: 'typing', session_id: W.sid, data: { typing: on } });
  }

  function markRead() {
    if (!stored() || document.hidden) return;
    let upTo = 0;
    for (const m of W.msgs.values()) if (m.from !== 'citizen') upTo = Math.max(upTo, m.seq);
    if (upTo > W.sentRead && W.sock.send({ type: 'read', session_id: W.sid, data: { up_to_seq: upTo } })) W.sentRead = upTo;
  }

  // leaveMessage ends the chat and keeps the question as a request that is
  // answered within 24 hours; the close frame (reason left_message) confirms.
  function leaveMessage() {
    if (!W.sid || !W.sentAny || W.state === 'closed' || W.leaving) return;
    if (W.sock.send({ type: 'leave_message', session_id: W.sid })) W.leaving = true;
    render();
  }

  // restart opens a new conversation: a video call or text chat.
  function restart(video) {
    endCall();
    W.video = video === true;
    Object.assign(W, { sid: '', state: '', pos: 0, wait: 0, noAgents: false, sentAny: false, leaving: false,
      lastSeq: 0, agentRead: 0, sentRead: 0, closed: null, typingUntil: 0, survey: null });
    W.msgs.clear();
    W.pending.clear();
    hello();
    render();
  }

  // ---- the follow-up survey --------------------------------------------------

  // httpURL is u when it is an http(s) address, else '' (never a javascript: link).
  function httpURL(u) {
    try {
      const x = new URL(String(u || ''), location.href);
      return x.protocol === 'https:' || x.protocol === 'http:' ? x.href : '';
    } catch (e) {
      return '';
    }
  }

  // surveyNote names the outcome of a survey answer: thanks, answered
  // (409 survey_answered), expired (410 survey_expired), or retry.
  function surveyNote(status, body) {
    const code = body && body.error ? body.error.code : '';
    if (status >= 200 && status < 300) return 'thanks';
    if (code === 'survey_answered' || status === 409) return 'answered';
    if (code === 'survey_expired' || status === 410) return 'expired';
    return 'retry';
  }

  // answerSurvey posts the card's answers. On a failure that a retry may
  // cure (network, 5xx, …) the card keeps what the citizen entered.
  async function answerSurvey(e) {
    e.preventDefault();
    const s = W.survey;
    if (!s || s.busy) return;
    const els = $('survey-form').elements;
    const resolved = els.resolved.value, rating = els.rating.value;
    if (!resolved || !rating) {
      s.note = 'missing';
      render();
      els[resolved ? 'rating' : 'resolved'][0].focus();
      return;
    }
    const body = { resolved: resolved === 'yes', rating, comment: $('survey-comment').value.trim() };
    s.busy = true;
    s.note = '';
    render();
    let status = 0, out = {};
    try {
      const r = await fetch('/v1/surveys/' + encodeURIComponent(s.code), { method: 'POST', credentials: 'same-origin',
        headers: { 'Content-Type': 'application/json' }, body: JSON.stringify(body) });
      status = r.status;
      out = await r.json().catch(() => ({}));
    } catch (err) { /* offline: retry */ }
    if (W.survey !== s) return; // a new conversation meanwhile
    s.busy = false;
    s.note = surveyNote(status, out);
    render();
    const lost = !document.activeElement || document.activeElement === document.body;
    if (s.note !== 'retry') $('survey-msg').focus(); // the form is gone
    else if (lost) $('survey-submit').focus(); // it was disabled while posting
  }

  const surveyText = {
    missing: () => t('survey.missing'), thanks: () => t('survey.thanks'), answered: () => t('survey.answered'),
    expired: () => t('survey.expired'), retry: () => t('survey.retry'),
  };

  // renderSurvey shows the card once the chat is closed; its heading takes
  // the focus when it first appears (the composer is gone by then).
  function renderSurvey() {
    const s = W.survey;
    $('survey').hidden = !s || W.state !== 'closed';
    if ($('survey').hidden) return;
    const done = s.note === 'thanks' || s.note === 'answered' || s.note === 'expired';
    $('survey-form').hidden = done;
    $('survey-form').setAttribute('aria-busy', String(s.busy));
    $('survey-submit').disabled = s.busy;
    const msg = $('survey-msg');
    msg.textContent = surveyText[s.note] ? surveyText[s.note]() : '';
    msg.dataset.note = s.note; // a live region: present (maybe empty) before it speaks
    $('survey-link').hidden = done || !s.url;
    $('survey-link').href = s.url || '#';
    if (!s.shown) {
      s.shown = true;
      $('survey-title').focus();
    }
  }

  // ---- sign-language video ---------------------------------------------------

  async function post(path, body, retried) {
    const r = await fetch(SIGN + path, { method: 'POST', credentials: 'same-origin',
      headers: { 'Content-Type': 'application/json', Authorization: 'Bearer ' + W.token }, body: JSON.stringify(body) });
    if (r.status === 401 && !retried) { await getToken(true); return post(path, body, true); } // the token expired
    const out = await r.json().catch(() => ({}));
    if (!r.ok) {
      const fields = out.error && out.error.fields ? ' (' + Object.keys(out.error.fields).join(', ') + ')' : '';
      throw new Error(((out.error && out.error.message) || String(r.status)) + fields);
    }
    return out;
  }

  // signLanguage asks for a video session: open → call; closed → the hours,
  // text chat or a call-back.
  async function signLanguage() {
    if (!Video.supported()) { showError(t('video.unsupported')); return; }
    let a;
    try { a = await post('sessions', {}); } catch (e) { showError(t('error.generic', { msg: e.message })); return; }
    $('callback').hidden = true;
    $('callback-done').hidden = true;
    if (a.open) {
      $('signlang').hidden = true;
      W.ice = a.ice_servers || [];
      restart(true);
      return;
    }
    $('signlang-msg').textContent = a.message || t('video.closed');
    $('signlang').hidden = false;
  }

  function startCall() {
    W.call = new Video.Call({ sid: W.sid, iceServers: W.ice, local: $('video-local'), remote: $('video-remote'),
      send: (f) => W.sock.send(f), onstate: (st) => { W.callState = st; renderVideo(); } });
    W.call.start(false);
  }

  function endCall() {
    if (W.call) { W.call.hangup(); W.call = null; }
  }

  async function requestCallback(e) {
    e.preventDefault();
    try {
      const r = await post('callbacks', { phone: $('callback-phone').value.trim(), note: $('callback-note').value.trim() });
      $('callback').hidden = true;
      $('callback-done').textContent = t('callback.done', { id: r.id });
      $('callback-done').hidden = false;
    } catch (err) {
      showError(t('error.generic', { msg: err.message }));
    }
  }

  function renderVideo() {
    $('video').hidden = !W.video || W.state === 'closed';
    $('video-btn').hidden = W.video && W.state !== 'closed';
    $('video-state').textContent = t(Video.stateKey(W.call ? W.callState : 'idle'));
  }

  // ---- rendering -------------------------------------------------------------

  function waitText(s) {
    if (s < 60) return t('wait.lt1');
    return t('wait.min', { n: Math.ceil(s / 60) });
  }

  function statusText() {
    if (W.conn === 'connecting') return t('status.connecting');
    if (W.conn === 'down') return t('status.reconnecting');
    switch (W.state) {
      case 'new':
        return W.noAgents ? t('status.newNoAgents') : t('status.new');
      case 'queued':
        if (W.noAgents) return t('status.noAgents');
        if (W.reason === 'transferred') return t('status.transferred');
        if (W.pos > 0 && W.wait > 0) return t('status.queued', { pos: W.pos, wait: waitText(W.wait) });
        return W.pos > 0 ? t('status.queuedPos', { pos: W.pos }) : t('status.waiting');
      case 'offered': return t('status.offered');
      case 'active': return t('status.active');
      case 'closed': return W.closed && W.closed.reason === 'left_message' ? t('status.leftMessage') : t('status.closed');
    }
    return t('status.connecting');
  }

  function render() {
    const st = $('status');
    st.textContent = statusText();
    st.dataset.state = W.conn === 'up' ? W.state || 'connecting' : W.conn;
    st.dataset.noAgents = W.noAgents && W.state !== 'closed' ? '1' : '';
    st.dataset.sid = W.sid; // the reference a citizen can quote
    const closed = W.state === 'closed';
    // Leaving a message needs a stored session: at least one message sent.
    $('leave').hidden = !(W.noAgents && W.sentAny && (W.state === 'queued' || W.state === 'new'));
    $('leave-btn').disabled = W.leaving || W.conn !== 'up';
    $('composer').hidden = closed;
    $('ended').hidden = !closed;
    $('end').hidden = closed || !W.sid;
    $('end').textContent = W.endArmed > Date.now() ? t('end.confirm') : t('end.button');
    if (closed) {
      const c = W.closed || {};
      $('ended-text').textContent = c.reason === 'left_message' ? t('closed.leftMessage', { id: c.envelope || '—' })
        : c.reason === 'closed_by_citizen' ? t('closed.byMe') : c.by ? t('closed.byAgent') : t('closed.other');
      $('ended').dataset.reason = c.reason || '';
    }
    renderSurvey();
    renderVideo();
    renderTranscript();
    renderTyping();
    markRead();
  }

  function renderTranscript() {
    const ol = $('transcript');
    const stick = ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    // No agent on duty: no promise that one will be with the citizen shortly.
    ol.replaceChildren(el('li', { class: 'msg system hint' }, el('div', { class: 'bubble', text: W.noAgents ? t('welcome.hintNoAgents') : t('welcome.hint') })));
    for (const m of [...W.msgs.values()].sort((a, b) => a.seq - b.seq)) {
      const mine = m.from === 'citizen';
      const who = mine ? t('from.me') : m.from === 'agent' ? t('from.agent') : t('from.system');
      ol.append(el('li', { class: 'msg ' + m.from, dataset: { seq: m.seq } },
        el('div', { class: 'bubble', text: m.text || (m.files ? t('chat.files', { n: m.files }) : '') }),
        el('div', { class: 'info' }, el('span', { text: who + ' ' + clockTime(m.at) }),
          mine && m.seq <= W.agentRead ? el('span', { class: 'read', text: t('chat.read') }) : null)));
    }
    for (const [id, p] of W.pending) {
      ol.append(el('li', { class: 'msg citizen pending' + (p.failed ? ' failed' : ''), dataset: { id } },
        el('div', { class: 'bubble', text: p.text }),
        el('div', { class: 'info' }, p.failed
          ? el('button', { class: 'link', type: 'button', text: t('chat.failed'),
            onclick: () => { W.pending.delete(id); sendText(p.text); } })
          : el('span', { text: t('chat.pending') }))));
    }
    if (stick) ol.scrollTop = ol.scrollHeight;
  }

  function renderTyping() {
    $('typing').hidden = !(W.typingUntil > Clock.now()) || W.state === 'closed';
  }

  let errTimer = 0;
  function showError(msg) {
    const e = $('error');
    e.textContent = msg;
    e.hidden = false;
    clearTimeout(errTimer);
    errTimer = setTimeout(() => { e.hidden = true; }, 8000);
  }

  // ---- wiring ----------------------------------------------------------------

  function wire() {
    $('lang').addEventListener('click', () => {
      I18n.toggle();
      // Not yet written: reserve again so that the hello carries the language
      // the citizen chose (it decides which agents are offered the chat first).
      if (W.state === 'new' && !W.sentAny && W.pending.size === 0 && W.sock && W.sock.open()) { W.sid = ''; hello(); }
    });
    I18n.onchange(render);
    $('leave-btn').addEventListener('click', leaveMessage);
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      const text = $('text').value.trim();
      if (!text) return;
      $('text').value = '';
      sendText(text);
    });
    $('text').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('composer').requestSubmit(); }
    });
    $('text').addEventListener('input', () => typing(true));
    $('text').addEventListener('blur', () => typing(false));
    $('again').addEventListener('click', () => restart(false));
    $('survey-form').addEventListener('submit', answerSurvey);
    $('survey-form').addEventListener('change', () => { if (W.survey && W.survey.note === 'missing') { W.survey.note = ''; render(); } });
    $('video-btn').addEventListener('click', signLanguage);
    $('hangup').addEventListener('click', () => { if (W.sid) W.sock.send({ type: 'close', session_id: W.sid, data: {} }); endCall(); render(); });
    $('signlang-chat').addEventListener('click', () => { $('signlang').hidden = true; if (W.video || W.state === 'closed') restart(false); });
    $('signlang-callback').addEventListener('click', () => { $('callback').hidden = false; $('callback-done').hidden = true; $('callback-phone').focus(); });
    $('callback').addEventListener('submit', requestCallback);
    $('end').addEventListener('click', () => {
      if (W.endArmed > Date.now()) {
        W.endArmed = 0;
        W.sock.send({ type: 'close', session_id: W.sid, data: {} });
      } else {
        W.endArmed = Date.now() + 3000;
        setTimeout(render, 3100);
      }
      render();
    });
    if (embedded) {
      document.body.classList.add('embedded');
      $('hide').hidden = false;
      $('hide').addEventListener('click', () => parent.postMessage({ type: 'hotline12345:close' }, '*'));
    }
    document.addEventListener('visibilitychange', markRead);
  }

  async function main() {
    await I18n.load('i18n.json');
    wire();
    render();
    await boot();
    document.body.dataset.ready = '1';
  }

  async function boot() {
    try {
      await getToken(false);
    } catch (e) {
      showError(t('error.generic', { msg: e.message }));
      setTimeout(boot, 5000);
      return;
    }
    connect();
  }

  main();
})();
