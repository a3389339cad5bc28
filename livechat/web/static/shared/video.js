// video.js: the sign-language video call of the console and the widget.
// Media goes peer to peer, or through the TURN relay named in ice_servers;
// the gateway carries none. It relays the signalling untouched, and only
// between the citizen and the agent assigned to the session, as frames on
// the live-chat websocket:
//   rtc.offer, rtc.answer  data {"type": "offer"|"answer", "sdp": "…"}
//   rtc.ice                data {"candidate": RTCIceCandidateInit}
// The agent's console makes the offer (again, to restart the call); the
// citizen's widget answers. Loaded after lib.js, before the page's script.
'use strict';

const Video = (() => {
  const supported = () => !!(window.RTCPeerConnection && navigator.mediaDevices && navigator.mediaDevices.getUserMedia);

  // Call is one side of a call. opts: {sid, send(frame) → bool, iceServers,
  // local, remote (video elements), onstate(state, error)}. States: media,
  // waiting, calling, connecting, connected, disconnected, failed, nomedia,
  // ended.
  class Call {
    constructor(opts) {
      this.o = opts;
      this.pc = null;
      this.stream = null;
      this.media = null; // the promise of the camera and microphone
      this.pendingIce = []; // candidates that came before the description
      this.queue = Promise.resolve(); // frames are handled one at a time, in order
      this.ended = false;
      this.state = 'idle';
    }

    setState(s, err) {
      this.state = s;
      if (this.o.onstate) this.o.onstate(s, err);
    }

    send(type, data) { return this.o.send({ type, session_id: this.o.sid, data }); }

    // start asks for the camera and microphone (a call without them still
    // receives) and, on the offering side, calls.
    start(offerer) {
      this.queue = this.queue.then(async () => {
        await this.localMedia();
        if (this.ended) return;
        if (offerer) await this.offer();
        else if (!this.pc) this.setState(this.stream ? 'waiting' : 'nomedia');
      }).catch((e) => this.setState('failed', e));
      return this.queue;
    }

    localMedia() {
      if (!this.media) {
        this.setState('media');
        this.media = navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 }, height: { ideal: 720 } }, audio: true })
          .then((s) => {
            if (this.ended) { s.getTracks().forEach((tr) => tr.stop()); return null; }
            this.stream = s;
            if (this.o.local) this.o.local.srcObject = s;
            return s;
          })
          .catch((e) => { this.setState('nomedia', e); return null; });
      }
      return this.media;
    }

    newPC() {
      if (this.pc) this.pc.close();
      const pc = new RTCPeerConnection({ iceServers: this.o.iceServers || [] });
      this.pc = pc;
      if (this.stream) for (const tr of this.stream.getTracks()) pc.addTrack(tr, this.stream);
      pc.onicecandidate = (e) => {
        if (e.candidate && this.pc === pc) this.send('rtc.ice', { candidate: e.candidate.toJSON() });
      };
      pc.ontrack = (e) => {
        if (this.o.remote) this.o.remote.srcObject = e.streams[0] || new MediaStream([e.track]);
      };
      pc.onconnectionstatechange = () => { if (this.pc === pc && !this.ended) this.setState(pc.connectionState); };
      return pc;
    }

    async offer() {
      const pc = this.newPC();
      if (!this.stream) { // receive the citizen's signing all the same
        pc.addTransceiver('video', { direction: 'recvonly' });
        pc.addTransceiver('audio', { direction: 'recvonly' });
      }
      const d = await pc.createOffer();
      await pc.setLocalDescription(d);
      this.send('rtc.offer', { type: d.type, sdp: d.sdp });
      this.setState('calling');
    }

    // restart calls again on a fresh connection (network change, reload).
    restart() {
      if (this.ended) return this.queue;
      this.queue = this.queue.then(() => this.offer()).catch((e) => this.setState('failed', e));
      return this.queue;
    }

    // onFrame takes an rtc.* frame of this session.
    onFrame(f) {
      if (this.ended || f.session_id !== this.o.sid) return this.queue;
      this.queue = this.queue.then(() => this.handle(f.type, f.data || {})).catch((e) => this.setState('failed', e));
      return this.queue;
    }

    async handle(type, d) {
      if (type === 'rtc.offer' && typeof d.sdp === 'string') {
        await this.localMedia();
        if (this.ended) return;
        const pc = this.newPC(); // every offer is a new call from the agent
        await pc.setRemoteDescription({ type: 'offer', sdp: d.sdp });
        await this.flushIce();
        const a = await pc.createAnswer();
        await pc.setLocalDescription(a);
        this.send('rtc.answer', { type: a.type, sdp: a.sdp });
        this.setState('connecting');
      } else if (type === 'rtc.answer' && typeof d.sdp === 'string') {
        if (!this.pc || this.pc.signalingState !== 'have-local-offer') return; // an answer to an offer we replaced
        await this.pc.setRemoteDescription({ type: 'answer', sdp: d.sdp });
        await this.flushIce();
        this.setState('connecting');
      } else if (type === 'rtc.ice' && d.candidate) {
        if (!this.pc || !this.pc.remoteDescription) { this.pendingIce.push(d.candidate); return; }
        await this.addIce(d.candidate);
      }
    }

    async flushIce() {
      const pend = this.pendingIce;
      this.pendingIce = [];
      for (const c of pend) await this.addIce(c);
    }

    // addIce ignores candidates of a connection that was replaced since.
    async addIce(c) {
      try { await this.pc.addIceCandidate(c); } catch (e) { /* stale candidate */ }
    }

    hangup() {
      if (this.ended) return;
      this.ended = true;
      if (this.pc) this.pc.close();
      this.pc = null;
      if (this.stream) this.stream.getTracks().forEach((tr) => tr.stop());
      this.stream = null;
      for (const v of [this.o.local, this.o.remote]) if (v) v.srcObject = null;
      this.setState('ended');
    }
  }

  // stateKey is the dictionary key (video.*) that describes a call state.
  const STATE_KEYS = { idle: 'video.idle', media: 'video.media', waiting: 'video.waiting', calling: 'video.calling', new: 'video.calling',
    connecting: 'video.connecting', connected: 'video.connected', disconnected: 'video.disconnected', failed: 'video.failed',
    nomedia: 'video.nomedia', closed: 'video.ended', ended: 'video.ended' };
  const stateKey = (st) => STATE_KEYS[st] || 'video.connecting';

  return { supported, Call, stateKey };
})();
