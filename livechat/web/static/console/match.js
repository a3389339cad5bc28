// match.js: the console's pure matching: canned replies found by "/" and a
// keyword, their placeholders filled, and the history search's query. No
// DOM; unit-tested with node --test (match.test.mjs).

// slashToken finds the "/keyword" being typed at the caret: a "/" at the
// start or after a space, then no space up to the caret. It returns
// {start, end, query} (end: the caret) or null.
export function slashToken(text, caret) {
  text = String(text || '');
  if (caret === undefined || caret === null) caret = text.length;
  const before = text.slice(0, caret);
  const m = /(^|\s)\/([^\s/]*)$/.exec(before);
  if (!m) return null;
  const start = before.length - m[2].length - 1;
  return { start, end: caret, query: m[2] };
}

// replyText is a reply in the agent's language (zh-CN → zh), the other one
// when it lacks that.
export function replyText(r, lang) {
  const zh = String(lang || '').toLowerCase().startsWith('zh');
  return (zh ? r.zh || r.en : r.en || r.zh) || '';
}

// matchReplies lists the replies query selects, grouped by topic in the
// order of the set: keywords starting with the query first, then those
// containing it, then a topic or text that contains it. An empty query
// lists them all. At most limit replies (default 12).
export function matchReplies(replies, query, lang, limit = 12) {
  const q = String(query || '').toLowerCase();
  const scored = [];
  (replies || []).forEach((r, i) => {
    const kw = String(r.keyword || '').toLowerCase();
    const text = replyText(r, lang);
    let score = -1;
    if (!q || kw.startsWith(q)) score = 0;
    else if (kw.includes(q)) score = 1;
    else if (String(r.topic || '').toLowerCase().includes(q) || text.toLowerCase().includes(q)) score = 2;
    if (score >= 0) scored.push({ score, i, reply: { keyword: r.keyword, topic: r.topic || '', text } });
  });
  scored.sort((a, b) => a.score - b.score || a.i - b.i);
  const groups = [];
  const byTopic = new Map();
  for (const s of scored.slice(0, limit)) {
    let g = byTopic.get(s.reply.topic);
    if (!g) { g = { topic: s.reply.topic, replies: [] }; byTopic.set(s.reply.topic, g); groups.push(g); }
    g.replies.push(s.reply);
  }
  return groups;
}

// fillPlaceholders replaces {name} with vars[name]; a placeholder without a
// value stays, for the agent to fill by hand.
export function fillPlaceholders(text, vars) {
  return String(text || '').replace(/\{(\w+)\}/g, (m, k) => (vars && vars[k] ? String(vars[k]) : m));
}

// insertAt replaces text[start:end] with s; it returns the new text and the
// caret after s.
export function insertAt(text, start, end, s) {
  text = String(text || '');
  return { text: text.slice(0, start) + s + text.slice(end), caret: start + s.length };
}

// validReplies checks a set for PUT /v1/replies: a list of {keyword, topic,
// zh, en} with a keyword (no spaces or "/", unique) and a text. It returns
// the error keys (i18n) with the row, [] when the set is fine.
export function validReplies(list) {
  if (!Array.isArray(list)) return [{ key: 'replies.notList', row: 0 }];
  const errs = [];
  const seen = new Set();
  list.forEach((r, i) => {
    const row = i + 1;
    const kw = r && typeof r.keyword === 'string' ? r.keyword.trim() : '';
    if (!kw || /[\s/]/.test(kw)) errs.push({ key: 'replies.badKeyword', row });
    else if (seen.has(kw.toLowerCase())) errs.push({ key: 'replies.dupKeyword', row });
    seen.add(kw.toLowerCase());
    if (!r || (!r.zh && !r.en)) errs.push({ key: 'replies.noText', row });
  });
  return errs;
}

// chatsQuery builds the query of GET /v1/agents/chats from the search
// form's fields, leaving out the empty ones; dates (yyyy-mm-dd, local) become
// the start of from and the end of to. It returns {query} or {error}.
export function chatsQuery(f, limit = 50) {
  const p = new URLSearchParams();
  const number = String(f.number || '').replace(/[\s-]/g, '');
  if (number) {
    if (!/^\d+$/.test(number)) return { error: 'search.badNumber' };
    p.set('number', number);
  }
  const day = (s, end) => {
    const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(String(s || ''));
    if (!m) return '';
    const d = end ? new Date(+m[1], +m[2] - 1, +m[3], 23, 59, 59, 999) : new Date(+m[1], +m[2] - 1, +m[3]);
    return d.toISOString();
  };
  const from = day(f.from, false), to = day(f.to, true);
  if (from && to && from > to) return { error: 'search.badRange' };
  if (from) p.set('from', from);
  if (to) p.set('to', to);
  for (const k of ['agent_id', 'channel', 'q']) {
    const v = String(f[k] || '').trim();
    if (v) p.set(k, v);
  }
  p.set('limit', String(limit));
  return { query: p.toString() };
}
