// call.js: a sign-language video session accepted here gets a video pane:
// this side makes the WebRTC offer (shared/video.js, a classic script that
// defines Video), signalling through the agent's websocket.
import { $ } from './dom.js';
import { t } from './i18n.js';
import { S } from './state.js';
import { banner } from './status.js';

// eslint-disable-next-line no-undef
const V = () => (typeof Video === 'undefined' ? null : Video);

// startCall calls the citizen of a video session, or calls again.
export function startCall(s) {
  const Video = V();
  if (!Video || !Video.supported()) { banner('error', t('video.unsupported')); return; }
  if (s.call) { s.call.restart(); return; }
  const box = $('video');
  if (box.dataset.sid && box.dataset.sid !== s.id) endCall(S.sessions.get(box.dataset.sid)); // one call at a time
  box.dataset.sid = s.id;
  s.call = new Video.Call({ sid: s.id, iceServers: s.ice || [], local: $('video-local'), remote: $('video-remote'),
    send: (f) => S.sock.send(f),
    onstate: (st) => { s.callState = st; if (S.current === s.id) renderVideo(s); } });
  s.call.start(true);
}

export function endCall(s) {
  if (s && s.call) { s.call.hangup(); s.call = null; }
}

export function renderVideo(s) {
  const box = $('video');
  box.hidden = !s.video || s.state === 'closed';
  if (box.hidden) return;
  $('video-state').textContent = t(V().stateKey(s.call ? s.callState : 'idle'));
  $('video-start').textContent = s.call ? t('video.restart') : t('video.start');
}
