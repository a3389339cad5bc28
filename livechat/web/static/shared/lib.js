// lib.js: what the console and the widget share: the UI dictionary, ids,
// the server clock, time formatting, a websocket that reconnects with
// backoff, and the element builder. No dependencies; a classic script,
// loaded before the page's own (the console's modules take it from
// global Lib).
'use strict';

const Lib = (() => {
  const LANG_KEY = 'hotline12345.lang';
  const SUPPORTED = ['zh-CN', 'en'];

  // pickLang: ?lang= first (embed.js passes the host page's language), then
  // the user's last choice, then the browser.
  function pickLang() {
    const q = new URLSearchParams(location.search).get('lang');
    const stored = (() => { try { return localStorage.getItem(LANG_KEY); } catch (e) { return null; } })();
    for (const l of [q, stored]) {
      const n = normLang(l);
      if (n) return n;
    }
    return normLang(navigator.language || '') || 'en';
  }
  function normLang(l) {
    if (!l) return null;
    l = String(l).toLowerCase();
    if (l.startsWith('zh')) return 'zh-CN';
    if (l.startsWith('en')) return 'en';
    return null;
  }

  // I18n holds one page's dictionary (i18n.json: {"zh-CN": {...}, "en": {...}}).
  const I18n = {
    lang: 'en',
    dict: {},
    all: {},
    listeners: [],
    async load(url) {
      const r = await fetch(url, { credentials: 'same-origin' });
      this.all = await r.json();
      this.set(pickLang(), false);
    },
    set(lang, remember) {
      this.lang = SUPPORTED.includes(lang) ? lang : 'en';
      this.dict = this.all[this.lang] || {};
      if (remember) { try { localStorage.setItem(LANG_KEY, this.lang); } catch (e) { /* private mode */ } }
      document.documentElement.lang = this.lang;
      this.apply(document);
      for (const f of this.listeners) f(this.lang);
    },
    // onchange registers f, called with the language whenever it changes.
    onchange(f) { this.listeners.push(f); },
    toggle() { this.set(this.lang === 'zh-CN' ? 'en' : 'zh-CN', true); },
    t(key, vars) {
      let s = this.dict[key];
      if (s === undefined) s = (this.all.en || {})[key];
      if (s === undefined) return key;
      if (vars) s = s.replace(/\{(\w+)\}/g, (m, k) => (vars[k] === undefined ? m : String(vars[k])));
      return s;
    },
    // apply fills data-i18n (text), data-i18n-placeholder, -title and -aria.
    apply(root) {
      root.querySelectorAll('[data-i18n]').forEach((el) => { el.textContent = this.t(el.dataset.i18n); });
      root.querySelectorAll('[data-i18n-placeholder]').forEach((el) => { el.placeholder = this.t(el.dataset.i18nPlaceholder); });
      root.querySelectorAll('[data-i18n-title]').forEach((el) => { el.title = this.t(el.dataset.i18nTitle); });
      root.querySelectorAll('[data-i18n-aria]').forEach((el) => { el.setAttribute('aria-label', this.t(el.dataset.i18nAria)); });
      const title = document.querySelector('title[data-i18n]');
      if (title) document.title = this.t(title.dataset.i18n);
    },
  };

  // newID is a client message id, echoed by the server with the message's seq.
  function newID(prefix) {
    const b = new Uint8Array(9);
    crypto.getRandomValues(b);
    return prefix + '-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
  }

  // Clock follows the server's time (frames carry "at"), so that due times
  // computed by the server and countdowns shown here agree.
  const Clock = {
    skew: 0,
    observe(at) {
      const t = Date.parse(at || '');
      if (t > 946684800000) this.skew = t - Date.now(); // ignore zero times
    },
    now() { return Date.now() + this.skew; },
  };

  function parseTime(s) {
    const t = Date.parse(s || '');
    return Number.isFinite(t) && t > 946684800000 ? t : 0;
  }

  // mmss formats seconds as mm:ss (h:mm:ss past an hour); negative → "-mm:ss".
  function mmss(sec) {
    const neg = sec < 0;
    sec = Math.abs(Math.floor(sec));
    const h = Math.floor(sec / 3600), m = Math.floor((sec % 3600) / 60), s = sec % 60;
    const p = (n) => String(n).padStart(2, '0');
    return (neg ? '-' : '') + (h ? h + ':' + p(m) : p(m)) + ':' + p(s);
  }

  function clockTime(ms) {
    const d = new Date(ms);
    return d.toLocaleTimeString(I18n.lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
  }

  function wsURL(path, token) {
    const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
    return proto + '//' + location.host + path + '?token=' + encodeURIComponent(token);
  }

  // Socket is a websocket that reconnects with exponential backoff and
  // jitter. onclose(code, reason) decides: 'retry' (1001 going away, 4008
  // slow, 1006 dropped, …), 'stop', or anything else to stop silently.
  // Call ok() once the server welcomed the client, to reset the backoff.
  class Socket {
    constructor(url, h) {
      this.url = url; // a function: the token may change between attempts
      this.h = h;
      this.ws = null;
      this.attempt = 0;
      this.stopped = false;
      this.timer = 0;
      window.addEventListener('online', () => this.retryNow()); // the device is back: do not wait out the backoff
    }
    connect() {
      this.stopped = false;
      clearTimeout(this.timer);
      const ws = new WebSocket(this.url());
      this.ws = ws;
      ws.onopen = () => { if (this.h.onopen) this.h.onopen(); };
      ws.onmessage = (ev) => {
        let f;
        try { f = JSON.parse(ev.data); } catch (e) { return; }
        if (f && typeof f.type === 'string') this.h.onframe(f);
      };
      ws.onclose = (ev) => {
        if (this.ws !== ws) return;
        this.ws = null;
        if (this.stopped) return;
        const what = this.h.onclose ? this.h.onclose(ev.code, ev.reason) : 'retry';
        if (what !== 'retry') return;
        const base = Math.min(15000, 500 * 2 ** this.attempt++);
        const delay = Math.round(base * (0.5 + Math.random() * 0.5));
        if (this.h.onretry) this.h.onretry(delay, ev.code);
        this.timer = setTimeout(() => { this.timer = 0; this.connect(); }, delay);
      };
    }
    ok() { this.attempt = 0; }
    retryNow() {
      if (this.stopped || this.ws || !this.timer) return;
      clearTimeout(this.timer);
      this.timer = 0;
      this.connect();
    }
    open() { return !!this.ws && this.ws.readyState === WebSocket.OPEN; }
    // send writes a frame; false when not connected (the caller keeps it).
    send(f) {
      if (!this.open()) return false;
      f.at = new Date(Clock.now()).toISOString();
      this.ws.send(JSON.stringify(f));
      return true;
    }
    close() {
      this.stopped = true;
      clearTimeout(this.timer);
      if (this.ws) this.ws.close(1000);
      this.ws = null;
    }
  }

  // el builds an element: el('div', {class: 'x', text: '…'}, child…).
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === undefined || v === null || v === false) continue;
      if (k === 'text') e.textContent = v;
      else if (k === 'class') e.className = v;
      else if (k.startsWith('on')) e.addEventListener(k.slice(2), v);
      else if (k === 'dataset') Object.assign(e.dataset, v);
      else e.setAttribute(k, v === true ? '' : v);
    }
    for (const k of kids) if (k) e.append(k);
    return e;
  }

  return { I18n, newID, Clock, parseTime, mmss, clockTime, wsURL, Socket, el, normLang };
})();
