// alerts.js: what reaches an agent working in another window: a beep
// (WebAudio), a desktop notification (Notification API; the permission is
// asked from a click, at login or in the settings) and a counter in the tab
// title ("(2) 12345 …") on a new offer, an SLA warning and a supervisor's
// alert. The counter clears when the agent comes back to the page. Each
// kind and way can be switched off (settings.js, per agent).
import { $, el } from './dom.js';
import { t } from './i18n.js';
import { S, myID, label } from './state.js';
import { titleWithCount } from './format.js';
import { KINDS, WAYS, settingsKey, parseSettings, setSetting, wantsDesktop } from './settings.js';

const A = { unseen: 0, audio: null, settings: parseSettings(null), sent: 0 };

function loadSettings() {
  let raw = null;
  try { raw = localStorage.getItem(settingsKey(myID())); } catch (e) { /* private mode */ }
  A.settings = parseSettings(raw);
}

function saveSettings() {
  try { localStorage.setItem(settingsKey(myID()), JSON.stringify(A.settings)); } catch (e) { /* private mode */ }
}

export function renderTitle() {
  document.title = titleWithCount(t('app.title'), A.unseen);
  document.documentElement.dataset.unseen = String(A.unseen);
}

const away = () => document.visibilityState !== 'visible' || !document.hasFocus();

// notify alerts the agent to one event: kind offer, sla or alert; tag (the
// chat's id) lets a later notification of the same chat replace it.
export function notify(kind, title, body, tag) {
  const want = A.settings[kind];
  if (!want) return;
  if (want.title) { A.unseen++; renderTitle(); }
  if (want.sound) beep(kind === 'offer' ? 1 : 2);
  if (want.desktop && away() && 'Notification' in window && Notification.permission === 'granted') {
    try {
      const n = new Notification(title, { body, tag: kind + '-' + (tag || ''), lang: document.documentElement.lang });
      n.onclick = () => { window.focus(); n.close(); };
      A.sent++;
    } catch (e) { /* a platform without page notifications */ }
  }
}

export function notifyOffer(sid, o) {
  notify('offer', t('notify.offer', { id: label(sid) }), o.preview || t('offer.nopreview'), sid);
}

// beep plays n short tones; the AudioContext is made at the first click.
function beep(n) {
  const ctx = A.audio;
  if (!ctx || ctx.state !== 'running') return;
  for (let i = 0; i < n; i++) {
    const at = ctx.currentTime + i * 0.22;
    const osc = ctx.createOscillator();
    const gain = ctx.createGain();
    osc.frequency.value = 880;
    gain.gain.setValueAtTime(0.0001, at);
    gain.gain.exponentialRampToValueAtTime(0.2, at + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, at + 0.16);
    osc.connect(gain).connect(ctx.destination);
    osc.start(at);
    osc.stop(at + 0.18);
  }
}

// gesture runs on a click or key: audio may start, the counter is seen.
function gesture() {
  if (!A.audio && (window.AudioContext || window.webkitAudioContext)) {
    try { A.audio = new (window.AudioContext || window.webkitAudioContext)(); } catch (e) { A.audio = null; }
  }
  if (A.audio && A.audio.state === 'suspended') A.audio.resume().catch(() => {});
  seen();
}

function seen() {
  if (A.unseen && !away()) { A.unseen = 0; renderTitle(); }
}

// askPermission asks for desktop notifications; call it from a click.
export function askPermission() {
  if (!('Notification' in window) || Notification.permission !== 'default' || !wantsDesktop(A.settings)) return;
  Notification.requestPermission().then(renderSettings).catch(() => {});
}

function renderSettings() {
  const perm = 'Notification' in window ? Notification.permission : 'unsupported';
  $('alert-perm').textContent = t('settings.perm.' + perm);
  $('alert-perm-ask').hidden = perm !== 'default';
  $('alert-grid').tBodies[0].replaceChildren(...KINDS.map((k) => el('tr', {},
    el('th', { text: t('settings.kind.' + k) }),
    ...WAYS.map((w) => el('td', {}, el('input', { type: 'checkbox', 'aria-label': t('settings.kind.' + k) + ' · ' + t('settings.way.' + w),
      dataset: { kind: k, way: w }, checked: A.settings[k][w],
      onchange: (e) => {
        A.settings = setSetting(A.settings, k, w, e.target.checked);
        saveSettings();
        if (w === 'desktop' && e.target.checked) askPermission();
      } }))))));
}

// startAlerts loads the agent's settings once logged in.
export function startAlerts() {
  loadSettings();
  renderSettings();
  renderTitle();
}

export function wireAlerts() {
  for (const ev of ['pointerdown', 'keydown']) document.addEventListener(ev, gesture, true);
  window.addEventListener('focus', seen);
  document.addEventListener('visibilitychange', seen);
  $('settings-open').addEventListener('click', () => { renderSettings(); $('settings').hidden = !$('settings').hidden; });
  $('settings-close').addEventListener('click', () => { $('settings').hidden = true; });
  $('alert-perm-ask').addEventListener('click', () => { Notification.requestPermission().then(renderSettings).catch(() => {}); });
}
