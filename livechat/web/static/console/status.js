// status.js: the connection state, the agent's presence (with the banner
// that says an agent who is not available is offered nothing) and the
// transient banners.
import { $, el } from './dom.js';
import { t } from './i18n.js';
import { S } from './state.js';

export function setConn(state, secs) {
  const c = $('conn');
  c.dataset.state = state;
  c.textContent = { idle: '', connecting: t('conn.connecting'), up: t('conn.online'), stopped: t('conn.stopped', { code: '' }),
    down: secs ? t('conn.reconnecting', { s: secs }) : t('conn.lost') }[state] || '';
  renderPresenceBanner();
}

let bannerSeq = 0;

// banner shows a message above the desk: info goes after 8 s, notice after
// 30 s, warn and error stay until closed. A key replaces the banner it named.
export function banner(kind, text, key) {
  const box = $('banners');
  if (key) { const old = box.querySelector('[data-key="' + CSS.escape(key) + '"]'); if (old) old.remove(); }
  const b = el('div', { class: 'banner ' + kind, role: kind === 'error' ? 'alert' : 'status', dataset: { key: key || 'b' + ++bannerSeq } },
    el('span', { text }), el('button', { type: 'button', class: 'x', 'aria-label': 'close', text: '×', onclick: () => b.remove() }));
  box.append(b);
  while (box.children.length > 4) box.firstChild.remove();
  if (kind === 'info') setTimeout(() => b.remove(), 8000);
  if (kind === 'notice') setTimeout(() => b.remove(), 30000);
}

export function dropBanner(key) {
  const b = document.querySelector('#banners [data-key="' + CSS.escape(key) + '"]');
  if (b) b.remove();
}

export function setPresence(p) {
  S.presence = p;
  $('presence').value = p;
  $('presence').dataset.state = p;
  renderPresenceBanner();
}

// renderPresenceBanner: an agent who is not available is offered nothing;
// say so where it cannot be missed, rather than "no incoming chats".
export function renderPresenceBanner() {
  const off = $('login-view').hidden ? S.presence !== 'available' && $('conn').dataset.state === 'up' : false;
  const b = $('presence-banner');
  b.hidden = !off;
  b.dataset.state = S.presence;
  $('presence-banner-text').textContent = t(S.presence === 'away' ? 'presence.bannerAway' : 'presence.bannerOffline');
}

export function goAvailable() {
  S.presenceChosen = true;
  S.sock.send({ type: 'presence', data: { status: 'available' } });
}
