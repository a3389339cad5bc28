// socket.js: a websocket that reconnects with exponential backoff and
// jitter, and the ids of the messages this console sends.
import { Clock } from './format.js';

// newID is a client message id, echoed by the server with the message's seq.
export function newID(prefix) {
  const b = new Uint8Array(9);
  crypto.getRandomValues(b);
  return prefix + '-' + Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
}

export function wsURL(path, token) {
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return proto + '//' + location.host + path + '?token=' + encodeURIComponent(token);
}

// Socket: onclose(code, reason) decides: 'retry' (1001 going away, 4008
// slow, 1006 dropped, …), or anything else to stop. Call ok() once the
// server welcomed the client, to reset the backoff.
export class Socket {
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
