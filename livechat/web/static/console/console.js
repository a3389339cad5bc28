// console.js: the agent console. Logs in, keeps one websocket to
// /v1/ws/agent (hello first, with {sessions: {id: last_seq}} to resume), shows
// offers, sessions with their reply countdown, and the chat of the selected one.
// A sign-language video session accepted here gets a video pane: this side
// makes the WebRTC offer (video.js), signalling through the same websocket.
//
// While the agent is not available a banner says so (with a button to become
// available). Escalation alerts (a chat past its deadline) stay on top until
// dismissed; an emergency (alert kind "emergency": the citizen wrote of a
// fire, a medical emergency, …) gets a larger red banner above them, and its
// chat an emergency badge on the offer, the desk and the wall. A supervisor
// also gets the wall: every queue, agent and chat from GET /v1/agents/wall
// every 2 s, emergencies first, then the other chats at risk, each with "take
// over" (frame takeover) and "reassign" (frame transfer to_agent). A chat's
// panel lists the citizen's earlier requests about the same matter that
// triage linked (the session's "history").
'use strict';

(() => {
  const { I18n, newID, Clock, parseTime, mmss, clockTime, wsURL, Socket, el } = Lib;
  const t = (k, v) => I18n.t(k, v);
  const $ = (id) => document.getElementById(id);
  const TOKEN_KEY = 'hotline12345.agent';
  const EMERGENCY_PRIORITY = 100; // an offer's priority at or above it is an emergency chat

  const S = {
    token: '',
    agent: null,
    presence: 'offline',
    presenceChosen: false,
    windowS: 180,
    sessions: new Map(), // id → session state, see ensure()
    offers: new Map(), // id → offer data + received time
    current: '',
    sock: null,
    closeArmed: 0,
    lastTyping: 0,
    accepting: new Set(), // video sessions accepted in this tab: it makes the call
    view: 'desk', // desk | wall (supervisors)
    wall: null, // the last GET /v1/agents/wall answer
    wallAt: 0,
    wallTimer: 0,
    wallBusy: false,
    alerts: new Map(), // sid → alert data (escalations, emergencies), newest last
    emergencies: new Map(), // sid → category ('' when only the offer's priority told) of the emergency chats seen
    wallFocus: '', // the chat "show on the wall" asked for: highlighted there
    wallScrolled: '', // … and scrolled to once
    takingOver: new Set(), // sessions this tab asked to take over
    transfers: new Map(), // sid → agent or skill a transfer from this tab named
    reassign: new Map(), // sid → the agent chosen in the wall's reassign menu
  };

  const isSupervisor = () => !!(S.agent && Array.isArray(S.agent.roles) && S.agent.roles.includes('supervisor'));

  // ---- login ---------------------------------------------------------------

  async function login(ev) {
    ev.preventDefault();
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
    S.sessions.clear();
    S.offers.clear();
    S.current = '';
    S.alerts.clear();
    S.emergencies.clear();
    S.wall = null;
    S.view = 'desk';
    clearInterval(S.wallTimer);
    S.wallTimer = 0;
    endCall(S.sessions.get($('video').dataset.sid || ''));
    try { sessionStorage.removeItem(TOKEN_KEY); } catch (e) { /* ignore */ }
    $('desk').hidden = true;
    $('wall').hidden = true;
    $('login-view').hidden = false;
    for (const id of ['presence-wrap', 'logout', 'me', 'views', 'presence-banner']) $(id).hidden = true;
    renderAlerts();
    setConn('idle');
    $('login-msg').textContent = why ? t(why) : '';
    $('login-id').focus();
  }

  function start() {
    $('login-view').hidden = true;
    $('desk').hidden = false;
    for (const id of ['presence-wrap', 'logout', 'me']) $(id).hidden = false;
    $('me').textContent = S.agent ? S.agent.id : '';
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

  // ---- frames --------------------------------------------------------------

  function ensure(id) {
    let s = S.sessions.get(id);
    if (!s) {
      s = { id, state: 'active', channel: '', preview: '', queuedAt: 0, lastCitizenAt: 0, lastAgentAt: 0, lastSeq: 0,
        msgs: new Map(), pending: new Map(), citizenRead: 0, sentRead: 0, typingUntil: 0, sla: null, slaAt: 0, unread: 0, closedBy: null,
        video: false, ice: null, call: null, callState: '', history: [] };
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
    return s;
  }

  function frame(f) {
    Clock.observe(f.at);
    const d = f.data || {};
    const sid = f.session_id || d.session_id || '';
    switch (f.type) {
      case 'welcome': {
        S.sock.ok();
        setConn('up');
        S.agent = d.agent || S.agent;
        S.windowS = d.response_window_s || S.windowS;
        setPresence(d.presence || S.presence);
        renderViews();
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
      case 'offer':
        S.offers.set(sid, Object.assign({}, d, { received: Clock.now() }));
        // The offer says only the priority; an emergency has the highest (the hub's emergencyPriority).
        if ((Number(d.priority) || 0) >= EMERGENCY_PRIORITY && !S.emergencies.has(sid)) S.emergencies.set(sid, '');
        break;
      case 'session':
        if (d.state === 'active') {
          S.offers.delete(sid);
          const s = applyView(d);
          if (!S.current || s.video) S.current = sid;
          if (s.video && S.accepting.delete(sid)) startCall(s);
          if (S.takingOver.delete(sid)) { // taken over from the wall: open it on the desk
            S.current = sid;
            dropAlert(sid);
            showView('desk');
            banner('info', t('takeover.done', { id: shortID(sid) }));
          }
        } else if (d.state === 'taken_over') {
          endCall(S.sessions.get(sid));
          S.sessions.delete(sid);
          S.transfers.delete(sid);
          if (S.current === sid) S.current = '';
          dropAlert(sid);
          banner('notice', t('session.takenOver', { id: shortID(sid), by: d.by || '?' }), 'taken-' + sid);
        } else if (d.state === 'withdrawn') {
          if (S.offers.delete(sid) && d.reason === 'offer_timeout') banner('info', t('offer.expired'));
        } else if (d.state === 'transferred' || d.state === 'escalated') {
          endCall(S.sessions.get(sid));
          S.sessions.delete(sid);
          S.transfers.delete(sid);
          if (S.current === sid) S.current = '';
          banner('info', t('session.' + d.state));
        }
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
      files: Array.isArray(d.attachments) ? d.attachments.length : 0,
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
        const b = document.querySelector('#banners [data-key="' + CSS.escape('sla-' + sid) + '"]');
        if (b) b.remove();
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
      const text = t(s ? 'transfer.refusedMine' : 'transfer.refused', { to, id: shortID(sid) });
      if (s) { s.transferMsg = text; if (S.current !== sid) S.current = sid; }
      banner('error', text, 'transfer-' + sid);
      return;
    }
    if (S.takingOver.delete(sid)) { banner('error', t('takeover.failed', { id: shortID(sid), msg: d.message || d.code || '' })); return; }
    banner('error', t('error', { code: d.code || '?', msg: d.message || '' }));
  }

  // onAlert keeps an escalation or an emergency on top of the page until it
  // is dismissed, taken over, or the chat ends: supervisors get them, and
  // every available agent when no supervisor is on duty.
  function onAlert(f, sid, d) {
    if (!sid) return;
    const kind = d.kind || 'escalated';
    const old = S.alerts.get(sid);
    if (kind !== 'emergency' && old && old.kind === 'emergency') return; // an escalation does not hide an emergency
    if (kind === 'emergency') S.emergencies.set(sid, d.category || 'other');
    S.alerts.delete(sid); // newest last
    S.alerts.set(sid, { sid, kind, clock: d.clock || '', agent: d.agent_id || '', due: parseTime(d.due), category: d.category || 'other',
      state: d.state || '', at: parseTime(f.at) || Clock.now(), supervisors: d.supervisors });
    renderAlerts();
    if (S.view === 'wall') renderWall();
  }

  function dropAlert(sid) {
    if (S.alerts.delete(sid)) renderAlerts();
  }

  // categoryName is an emergency's category in the console's language.
  function categoryName(c) {
    if (!c) return t('emergency.unknown');
    const k = 'emergency.' + c;
    const name = t(k);
    return name === k ? c : name;
  }

  function emergencyBadge(sid) {
    return S.emergencies.has(sid)
      ? el('span', { class: 'chip emergency', text: S.emergencies.get(sid) ? t('emergency.badge', { category: categoryName(S.emergencies.get(sid)) }) : t('emergency.unknown') })
      : null;
  }

  function alertText(a) {
    if (a.kind === 'emergency') {
      const me = S.agent ? S.agent.id : '';
      const v = { id: shortID(a.sid), category: categoryName(a.category), agent: a.agent };
      const mine = a.agent !== '' && a.agent === me && S.sessions.has(a.sid);
      let text = mine ? t('alert.emergencyMine', v) : a.agent === '' ? t('alert.emergencyQueued', v)
        : a.state === 'offered' ? t('alert.emergencyOffered', v) : t('alert.emergencyActive', v);
      text += ' ' + t('alert.emergencyTold');
      if (a.supervisors === false || (a.supervisors === undefined && !isSupervisor())) text += ' ' + t('alert.noSupervisor');
      return text;
    }
    const clock = a.clock ? t('sla.clock.' + a.clock) : t('alert.deadline');
    const v = { id: shortID(a.sid), clock, due: a.due ? clockTime(a.due) : '—', agent: a.agent };
    const me = S.agent ? S.agent.id : '';
    let text = a.agent === '' ? t('alert.queued', v) : a.agent === me ? t('alert.mine', v) : t('alert.escalated', v);
    // Sent to agents because no supervisor is on duty: say so.
    if (a.supervisors === false || (a.supervisors === undefined && !isSupervisor())) text += ' ' + t('alert.noSupervisor');
    return text;
  }

  // ---- actions -------------------------------------------------------------

  function send(s, text) {
    const id = newID('a');
    const p = { id, text, sent: false, failed: false };
    s.pending.set(id, p);
    p.sent = S.sock.send({ type: 'message', id, session_id: s.id, data: { text } });
    if (p.sent) watchAck(s, p);
    typing(s, false);
  }

  // A sent message not echoed within 10 s (dropped connection) is offered
  // for resending rather than sent twice behind the agent's back.
  function watchAck(s, p) {
    setTimeout(() => { if (s.pending.get(p.id) === p) { p.failed = true; render(); } }, 10000);
  }

  function flushPending(s) {
    for (const p of s.pending.values()) {
      if (!p.sent && !p.failed) { p.sent = S.sock.send({ type: 'message', id: p.id, session_id: s.id, data: { text: p.text } }); if (p.sent) watchAck(s, p); }
    }
  }

  function resend(s, p) {
    s.pending.delete(p.id);
    send(s, p.text);
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

  // markRead tells the citizen what the agent has seen.
  function markRead(s) {
    if (!s || s.state !== 'active' || document.hidden) return;
    let upTo = 0;
    for (const m of s.msgs.values()) if (m.from === 'citizen') upTo = Math.max(upTo, m.seq);
    s.unread = 0;
    if (upTo > s.sentRead && S.sock.send({ type: 'read', session_id: s.id, data: { up_to_seq: upTo } })) s.sentRead = upTo;
  }

  function setPresence(p) {
    S.presence = p;
    $('presence').value = p;
    $('presence').dataset.state = p;
    renderPresenceBanner();
  }

  // renderPresenceBanner: an agent who is not available is offered nothing;
  // say so where it cannot be missed, rather than "no incoming chats".
  function renderPresenceBanner() {
    const off = !$('desk').hidden || !$('wall').hidden ? S.presence !== 'available' && $('conn').dataset.state === 'up' : false;
    const b = $('presence-banner');
    b.hidden = !off;
    b.dataset.state = S.presence;
    $('presence-banner-text').textContent = t(S.presence === 'away' ? 'presence.bannerAway' : 'presence.bannerOffline');
  }

  function goAvailable() {
    S.presenceChosen = true;
    S.sock.send({ type: 'presence', data: { status: 'available' } });
  }

  // ---- rendering -------------------------------------------------------------

  function setConn(state, secs) {
    const c = $('conn');
    c.dataset.state = state;
    c.textContent = { idle: '', connecting: t('conn.connecting'), up: t('conn.online'), stopped: t('conn.stopped', { code: '' }),
      down: secs ? t('conn.reconnecting', { s: secs }) : t('conn.lost') }[state] || '';
    renderPresenceBanner();
  }

  let bannerSeq = 0;
  function banner(kind, text, key) {
    const box = $('banners');
    if (key) { const old = box.querySelector('[data-key="' + CSS.escape(key) + '"]'); if (old) old.remove(); }
    const b = el('div', { class: 'banner ' + kind, role: kind === 'error' ? 'alert' : 'status', dataset: { key: key || 'b' + ++bannerSeq } },
      el('span', { text }), el('button', { type: 'button', class: 'x', 'aria-label': 'close', text: '×', onclick: () => b.remove() }));
    box.append(b);
    while (box.children.length > 4) box.firstChild.remove();
    if (kind === 'info') setTimeout(() => b.remove(), 8000);
    if (kind === 'notice') setTimeout(() => b.remove(), 30000);
  }

  function slaText(sla, sid) {
    const clock = t('sla.clock.' + sla.clock);
    return t(sla.state === 'breached' ? 'sla.breached' : 'sla.warning', { clock, due: sla.due ? clockTime(sla.due) : '?', id: shortID(sid) });
  }

  const shortID = (id) => (id || '').slice(-6);
  const channelName = (c) => {
    if (!c) return '';
    const name = t('channel.' + c);
    return name === 'channel.' + c ? c : name;
  };

  // due is when the agent must reply: the citizen's last message plus the
  // response window, if the citizen spoke after the agent's last reply.
  function due(s) {
    if (s.state !== 'active' || !s.lastCitizenAt || s.lastCitizenAt <= s.lastAgentAt) return 0;
    return s.lastCitizenAt + S.windowS * 1000;
  }

  // sessionClocks sets the countdown badge and the waiting text of one row;
  // the ticker calls it every second without rebuilding the list.
  function sessionClocks(s, badge, waiting) {
    const d = due(s);
    badge.hidden = !d;
    if (d) {
      const left = (d - Clock.now()) / 1000;
      badge.classList.toggle('urgent', left < 60);
      badge.textContent = left >= 0 ? mmss(left) : t('due.overdue', { t: mmss(-left) });
    }
    waiting.textContent = d ? t('sessions.waiting', { t: mmss((Clock.now() - s.lastCitizenAt) / 1000) })
      : s.state === 'closed' ? t('state.closed') : t('sessions.answered');
  }

  function render() {
    renderOffers();
    renderSessions();
    renderChat();
    renderAlerts();
  }

  function renderOffers() {
    const ul = $('offers');
    ul.replaceChildren();
    for (const [sid, o] of S.offers) {
      const since = parseTime(o.waiting_since) || o.received;
      ul.append(el('li', { class: 'offer' + (S.emergencies.has(sid) ? ' emergency' : ''), dataset: { sid } },
        el('div', { class: 'offer-top' },
          el('span', { class: 'chip', text: channelName(o.channel) }),
          emergencyBadge(sid),
          o.video ? el('span', { class: 'chip video', text: t('offer.video') }) : null,
          el('span', { class: 'wait', dataset: { since }, text: t('offer.waiting', { t: mmss((Clock.now() - since) / 1000) }) })),
        el('p', { class: 'preview', text: o.preview || t('offer.nopreview') }),
        el('div', { class: 'offer-actions' },
          el('button', { class: 'primary accept', type: 'button', text: t('offer.accept'),
            onclick: () => { if (o.video) S.accepting.add(sid); S.sock.send({ type: 'accept', session_id: sid, data: {} }); } }),
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
        el('span', { class: 'sid', text: '#' + shortID(s.id) }),
        emergencyBadge(s.id),
        s.unread ? el('span', { class: 'unread', text: String(s.unread) }) : null,
        badge),
      el('p', { class: 'preview', text: s.preview || '—' }),
      waiting));
    }
    $('sessions-empty').hidden = S.sessions.size > 0;
    $('session-count').textContent = S.sessions.size || '';
  }

  function select(id) {
    S.current = id;
    S.closeArmed = 0;
    render();
    $('reply').focus();
  }

  let shown = '';
  function renderChat() {
    const s = S.sessions.get(S.current);
    $('chat-none').hidden = !!s;
    $('chat-main').hidden = !s;
    if (!s) { shown = ''; return; }
    $('chat-title').replaceChildren(t('chat.title', { id: shortID(s.id) }), emergencyBadge(s.id) || '');
    $('chat-meta').textContent = [channelName(s.channel), t('state.' + s.state),
      s.queuedAt ? t('chat.since', { t: clockTime(s.queuedAt) }) : ''].filter(Boolean).join(' · ');
    const closed = s.state === 'closed';
    $('composer').hidden = closed;
    $('transfer').hidden = closed;
    $('close-session').hidden = closed;
    $('chat-closed').hidden = !closed;
    if (closed) $('closed-text').textContent = s.closedBy && S.agent && s.closedBy === S.agent.id ? t('closed.byMe') : t('chat.closed');
    $('close-session').textContent = S.closeArmed > Date.now() ? t('close.confirm') : t('close.button');
    $('transfer-msg').hidden = closed || !s.transferMsg;
    $('transfer-msg').textContent = s.transferMsg || '';
    const sla = $('sla');
    sla.hidden = !s.sla;
    if (s.sla) { sla.textContent = slaText(s.sla, s.id); sla.className = 'sla ' + s.sla.state; }
    renderVideo(s);
    renderHistory(s);
    renderTranscript(s);
    renderDue();
    renderTyping();
    markRead(s);
  }

  // ---- video -------------------------------------------------------------------

  // startCall calls the citizen of a video session, or calls again.
  function startCall(s) {
    if (!Video.supported()) { banner('error', t('video.unsupported')); return; }
    if (s.call) { s.call.restart(); return; }
    const box = $('video');
    if (box.dataset.sid && box.dataset.sid !== s.id) endCall(S.sessions.get(box.dataset.sid)); // one call at a time
    box.dataset.sid = s.id;
    s.call = new Video.Call({ sid: s.id, iceServers: s.ice || [], local: $('video-local'), remote: $('video-remote'),
      send: (f) => S.sock.send(f),
      onstate: (st) => { s.callState = st; if (S.current === s.id) renderVideo(s); } });
    s.call.start(true);
  }

  function endCall(s) {
    if (s && s.call) { s.call.hangup(); s.call = null; }
  }

  function renderVideo(s) {
    const box = $('video');
    box.hidden = !s.video || s.state === 'closed';
    if (box.hidden) return;
    $('video-state').textContent = t(Video.stateKey(s.call ? s.callState : 'idle'));
    $('video-start').textContent = s.call ? t('video.restart') : t('video.start');
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
        el('span', { class: 'history-id', text: h.id })),
      h.reply ? el('p', { class: 'history-reply' }, el('span', { class: 'meta', text: t('history.reply') }), el('span', { text: h.reply }))
        : el('p', { class: 'history-reply none', text: t('history.noReply') }))));
  }

  function statusName(st) {
    const k = 'request.status.' + st;
    const name = t(k);
    return name === k ? (st || '—') : name;
  }

  // dateTime is a date and time in the console's language: 2024-05-01 14:03.
  function dateTime(ms) {
    if (!ms) return '—';
    const d = new Date(ms);
    const p = (n) => String(n).padStart(2, '0');
    return d.getFullYear() + '-' + p(d.getMonth() + 1) + '-' + p(d.getDate()) + ' ' + p(d.getHours()) + ':' + p(d.getMinutes());
  }

  function renderTranscript(s) {
    const ol = $('transcript');
    const stick = shown !== s.id || ol.scrollHeight - ol.scrollTop - ol.clientHeight < 40;
    ol.replaceChildren();
    const me = S.agent ? S.agent.id : '';
    for (const m of [...s.msgs.values()].sort((a, b) => a.seq - b.seq)) {
      const mine = m.from === 'agent' && m.agent === me;
      const who = m.from === 'citizen' ? t('from.citizen') : m.from === 'agent' ? (mine ? t('from.me') : t('from.agent', { id: m.agent })) : t('from.system');
      ol.append(el('li', { class: 'msg ' + m.from + (mine ? ' mine' : ''), dataset: { seq: m.seq } },
        el('div', { class: 'bubble' }, el('span', { class: 'text', text: m.text || (m.files ? t('chat.files', { n: m.files }) : '') })),
        el('div', { class: 'info' }, el('span', { text: who + ' · ' + clockTime(m.at) }),
          m.partial ? el('span', { class: 'partial', text: t('chat.partial', { parts: m.partial }) }) : null,
          m.from === 'agent' && m.seq <= s.citizenRead ? el('span', { class: 'read', text: t('chat.read') }) : null)));
    }
    for (const p of s.pending.values()) {
      ol.append(el('li', { class: 'msg agent mine pending' + (p.failed ? ' failed' : ''), dataset: { id: p.id } },
        el('div', { class: 'bubble' }, el('span', { class: 'text', text: p.text })),
        el('div', { class: 'info' }, p.failed
          ? el('button', { class: 'link', type: 'button', text: t('chat.failed'), onclick: () => resend(s, p) })
          : el('span', { text: t('chat.pending') }))));
    }
    if (stick) ol.scrollTop = ol.scrollHeight;
    shown = s.id;
  }

  function renderDue() {
    const s = S.sessions.get(S.current);
    const box = $('chat-due');
    const d = s ? due(s) : 0;
    box.hidden = !d;
    if (!d) return;
    const left = (d - Clock.now()) / 1000;
    box.classList.toggle('urgent', left < 60);
    box.textContent = left >= 0 ? t('due.label') + ' ' + mmss(left) : t('due.overdue', { t: mmss(-left) });
  }

  function renderTyping() {
    const s = S.sessions.get(S.current);
    $('typing').hidden = !(s && s.typingUntil > Clock.now());
  }

  // tick refreshes the clocks once a second without touching the transcript.
  function tick() {
    if ($('desk').hidden) return;
    document.querySelectorAll('#sessions li.session').forEach((li) => {
      const s = S.sessions.get(li.dataset.sid);
      if (s) sessionClocks(s, li.querySelector('.due-badge'), li.querySelector('.waiting'));
    });
    renderDue();
    renderTyping();
    document.querySelectorAll('#offers .wait').forEach((w) => { w.textContent = t('offer.waiting', { t: mmss((Clock.now() - Number(w.dataset.since)) / 1000) }); });
    wallClocks();
  }

  // ---- alerts, views and the supervisor wall ---------------------------------

  function renderAlerts() {
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

  function renderViews() {
    const sup = isSupervisor();
    $('views').hidden = !sup;
    if (!sup && S.view !== 'desk') showView('desk');
    renderAlerts();
  }

  function showView(v) {
    if (v === 'wall' && !isSupervisor()) v = 'desk';
    S.view = v;
    if (v !== 'wall') S.wallFocus = S.wallScrolled = '';
    $('desk').hidden = v !== 'desk';
    $('wall').hidden = v !== 'wall';
    document.querySelectorAll('#views .view').forEach((b) => {
      b.classList.toggle('current', b.dataset.view === v);
      b.setAttribute('aria-pressed', String(b.dataset.view === v));
    });
    clearInterval(S.wallTimer);
    S.wallTimer = 0;
    if (v === 'wall') {
      loadWall();
      S.wallTimer = setInterval(loadWall, 2000);
      renderWall();
    } else {
      render();
    }
    renderPresenceBanner();
  }

  async function loadWall() {
    if (S.wallBusy || !S.token) return;
    S.wallBusy = true;
    try {
      const r = await fetch('/v1/agents/wall', { credentials: 'same-origin', headers: { Authorization: 'Bearer ' + S.token } });
      if (r.status === 401) { showLogin('login.expired'); return; }
      if (r.status === 403) { // not (or no longer) a supervisor
        if (S.agent) S.agent.roles = [];
        renderViews();
        return;
      }
      if (!r.ok) throw new Error(String(r.status));
      S.wall = await r.json();
      S.wallAt = Clock.now();
      $('wall').dataset.loaded = '1';
      renderWall();
    } catch (e) {
      $('wall-updated').textContent = t('wall.failed', { msg: e.message });
    } finally {
      S.wallBusy = false;
    }
  }

  function takeOver(sid) {
    S.takingOver.add(sid);
    if (!S.sock.send({ type: 'takeover', session_id: sid, data: {} })) {
      S.takingOver.delete(sid);
      banner('error', t('conn.lost'));
    }
  }

  function reassign(sid, to) {
    if (!to) return;
    S.transfers.set(sid, to);
    if (S.sock.send({ type: 'transfer', session_id: sid, data: { to_agent: to } })) banner('info', t('wall.reassigning', { id: shortID(sid), to }));
  }

  // atRisk: an emergency, escalated, alerted, or due within two minutes.
  function atRisk(c) {
    const due = parseTime(c.due);
    return !!c.emergency || !!c.escalated || S.alerts.has(c.session_id) || (due > 0 && due - Clock.now() < 120000);
  }

  // riskRank orders the wall: emergencies, then the other chats at risk, then the rest.
  const riskRank = (c) => (c.emergency ? 2 : atRisk(c) ? 1 : 0);

  function dueText(c) {
    const due = parseTime(c.due);
    if (!due) return '—';
    const left = (due - Clock.now()) / 1000;
    const clock = c.clock ? t('sla.clock.' + c.clock) : '';
    return (clock ? clock + ' ' : '') + (left >= 0 ? mmss(left) : t('due.overdue', { t: mmss(-left) }));
  }

  function renderWall() {
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
    const me = S.agent ? S.agent.id : '';
    const others = (w.agents || []).filter((a) => a.connected);
    // An emergency this console was alerted to counts before the wall's next refresh says so.
    let stale = false;
    const chats = (w.chats || []).map((c) => {
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
    cb.replaceChildren(...chats.map((c) => {
      const sid = c.session_id;
      const choice = S.reassign.get(sid) || '';
      const sel = el('select', { class: 'reassign-to', 'aria-label': t('wall.reassignTo') },
        el('option', { value: '', text: t('wall.reassignTo') }),
        ...others.filter((a) => a.id !== c.agent_id).map((a) => el('option', { value: a.id, text: a.id + ' (' + (a.load || 0) + '/' + (a.capacity || 0) + ')' })));
      sel.value = choice;
      sel.addEventListener('change', () => S.reassign.set(sid, sel.value));
      const since = parseTime(c.waiting_since);
      const escalated = c.escalated || (S.alerts.has(sid) && S.alerts.get(sid).kind !== 'emergency');
      return el('tr', { class: 'wall-chat' + (atRisk(c) ? ' at-risk' : '') + (escalated ? ' escalated' : '') + (c.emergency ? ' emergency' : '') +
          (S.wallFocus === sid ? ' focus' : ''), dataset: { sid, state: c.state, agent: c.agent_id || '', emergency: c.emergency || null } },
      el('td', {}, el('strong', { text: '#' + shortID(sid) }), el('span', { class: 'chip', text: channelName(c.channel) }),
        c.emergency ? el('span', { class: 'chip emergency', text: t('emergency.badge', { category: categoryName(c.emergency) }) }) : null,
        escalated ? el('span', { class: 'chip escalated', text: t('wall.escalated') }) : null),
      el('td', { text: t('state.' + c.state) }),
      el('td', { text: c.agent_id || '—' }),
      el('td', { class: 'num wall-since', dataset: { since: since || '' }, text: since ? mmss((Clock.now() - since) / 1000) : '—' }),
      el('td', { class: 'num wall-due' + (parseTime(c.due) && parseTime(c.due) - Clock.now() < 60000 ? ' urgent' : ''),
        dataset: { due: c.due || '', clock: c.clock || '' }, text: dueText(c) }),
      el('td', { class: 'wall-preview', text: c.preview || '' }),
      el('td', { class: 'actions' },
        c.agent_id === me ? el('span', { class: 'meta', text: t('wall.mine') })
          : el('button', { type: 'button', class: 'primary takeover', text: t('wall.takeover'), onclick: () => takeOver(sid) }),
        sel,
        el('button', { type: 'button', class: 'reassign', text: t('wall.reassign'), onclick: () => reassign(sid, sel.value) })));
    }));
    $('wall-chats-empty').hidden = chats.length > 0;
    const focus = S.wallFocus && cb.querySelector('tr.wall-chat[data-sid="' + CSS.escape(S.wallFocus) + '"]');
    if (focus && S.wallScrolled !== S.wallFocus) { focus.scrollIntoView({ block: 'nearest' }); S.wallScrolled = S.wallFocus; }
  }

  // wallClocks updates the wall's countdowns between refreshes.
  function wallClocks() {
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

  // ---- wiring ----------------------------------------------------------------

  function wire() {
    $('login').addEventListener('submit', login);
    $('lang').addEventListener('click', () => I18n.toggle());
    I18n.onchange = () => { setConn($('conn').dataset.state); if (!$('desk').hidden) render(); renderAlerts(); renderWall(); };
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
    $('composer').addEventListener('submit', (e) => {
      e.preventDefault();
      const s = S.sessions.get(S.current);
      const text = $('reply').value.trim();
      if (!s || !text) return;
      $('reply').value = '';
      send(s, text);
      render();
    });
    $('reply').addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) { e.preventDefault(); $('composer').requestSubmit(); }
    });
    $('reply').addEventListener('input', () => { const s = S.sessions.get(S.current); if (s) typing(s, true); });
    $('reply').addEventListener('blur', () => { const s = S.sessions.get(S.current); if (s && S.lastTyping) typing(s, false); });
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
    $('video-start').addEventListener('click', () => { const s = S.sessions.get(S.current); if (s && s.video) startCall(s); });
    $('dismiss').addEventListener('click', () => { S.sessions.delete(S.current); S.current = ''; render(); });
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
    document.body.dataset.ready = '1';
  }

  main();
})();
