// history.js: the History view: closed (and open) chats searched by number,
// dates, agent, channel and text through GET /v1/agents/chats (agents see
// their own, supervisors all), and a chat's transcript, read only, from GET
// /v1/agents/chats/{session_id}, notes included.
import { $, el } from './dom.js';
import { t, channelName } from './i18n.js';
import { S, isSupervisor, noteNumber, label } from './state.js';
import { parseTime, dateTime } from './format.js';
import { chatsQuery } from './match.js';
import { getJSON } from './api.js';
import { messageItem } from './chat.js';

const H = { chats: [], open: '', searched: false, seq: 0 };

export function showHistory() {
  $('search-agent-wrap').hidden = !isSupervisor();
  if (!H.searched) search();
}

async function search(e) {
  if (e) e.preventDefault();
  const f = $('search');
  const q = chatsQuery({ number: f.number.value, from: f.from.value, to: f.to.value,
    agent_id: isSupervisor() ? f.agent_id.value : '', channel: f.channel.value, q: f.q.value });
  const msg = $('search-msg');
  if (q.error) { msg.textContent = t(q.error); return; }
  msg.textContent = t('search.searching');
  const my = ++H.seq;
  try {
    const b = await getJSON('/v1/agents/chats?' + q.query);
    if (my !== H.seq) return; // a newer search answered first
    H.chats = Array.isArray(b.chats) ? b.chats : [];
    H.searched = true;
    $('search-results').dataset.query = q.query; // what the rows answer
    msg.textContent = t('search.found', { n: H.chats.length });
    renderList();
  } catch (err) {
    if (my === H.seq) msg.textContent = t('search.failed', { msg: err.message });
  }
}

function renderList() {
  const tb = $('search-results').tBodies[0];
  tb.replaceChildren(...H.chats.map((c) => {
    noteNumber(c.session_id, c.number);
    return el('tr', { class: 'found' + (c.session_id === H.open ? ' current' : ''), tabindex: '0', dataset: { sid: c.session_id, number: c.number || '' },
      onclick: () => openChat(c.session_id), onkeydown: (e) => { if (e.key === 'Enter') openChat(c.session_id); } },
    el('td', {}, el('strong', { class: 'number', text: label(c.session_id) })),
    el('td', { text: channelName(c.channel) }),
    el('td', { text: c.agent_id || '—' }),
    el('td', { text: t('state.' + (c.state || 'closed')) }),
    el('td', { class: 'num', text: dateTime(parseTime(c.created_at)) }),
    el('td', { class: 'num', text: dateTime(parseTime(c.closed_at)) }),
    el('td', { class: 'found-preview', text: c.preview || '' }));
  }));
  $('search-empty').hidden = H.chats.length > 0;
}

async function openChat(sid) {
  H.open = sid;
  renderList();
  const box = $('record');
  box.hidden = false;
  box.dataset.sid = sid;
  box.dataset.loaded = '';
  $('record-title').textContent = t('chat.title', { id: label(sid) });
  $('record-meta').textContent = t('search.loading');
  $('record-transcript').replaceChildren();
  try {
    const b = await getJSON('/v1/agents/chats/' + encodeURIComponent(sid));
    if (H.open !== sid) return;
    const c = b.chat || {};
    noteNumber(sid, c.number);
    $('record-title').textContent = t('chat.title', { id: label(sid) });
    $('record-meta').textContent = [channelName(c.channel), c.agent_id ? t('from.agent', { id: c.agent_id }) : '',
      dateTime(parseTime(c.created_at)) + ' – ' + dateTime(parseTime(c.closed_at)), t('search.readOnly')].filter(Boolean).join(' · ');
    const msgs = (b.messages || []).map((f) => {
      const d = f.data || f; // frames, or flat messages
      return { seq: f.seq, at: parseTime(f.at), from: d.from || 'system', text: d.text || '', agent: d.agent_id || '',
        attachments: Array.isArray(d.attachments) ? d.attachments : [] };
    }).sort((x, y) => x.seq - y.seq);
    $('record-transcript').replaceChildren(...msgs.map((m) => messageItem(sid, m, { media: true })));
    box.dataset.loaded = '1';
  } catch (err) {
    $('record-meta').textContent = t('search.failed', { msg: err.message });
  }
}

export function wireHistory() {
  $('search').addEventListener('submit', search);
  $('record-close').addEventListener('click', () => { H.open = ''; $('record').hidden = true; renderList(); });
}

export function resetHistory() {
  H.chats = [];
  H.open = '';
  H.searched = false;
  $('record').hidden = true;
}
