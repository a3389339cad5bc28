// replies.js: canned replies (常用语). GET /v1/replies is loaded at the
// first "/" the agent types; "/" and a keyword in the composer offers the
// matching replies grouped by topic in the agent's language, and the one
// chosen (click, Enter or Tab) replaces "/keyword" with its placeholders
// {number} and {district} filled from the chat. Supervisors edit the set
// (PUT /v1/replies replaces it) as JSON in a dialog.
import { $, el } from './dom.js';
import { I18n, t } from './i18n.js';
import { S, isSupervisor } from './state.js';
import { getJSON, putJSON } from './api.js';
import { slashToken, matchReplies, fillPlaceholders, insertAt, validReplies } from './match.js';

const R = { list: null, at: 0, loading: null, error: '', groups: [], flat: [], active: 0, token: null };

async function load(force) {
  if (!force && R.list && Date.now() - R.at < 60000) return R.list;
  if (!R.loading) {
    R.loading = getJSON('/v1/replies')
      .then((b) => { R.list = Array.isArray(b.replies) ? b.replies : []; R.at = Date.now(); R.error = ''; return R.list; })
      .catch((e) => { R.error = e.message; return R.list || []; })
      .finally(() => { R.loading = null; });
  }
  return R.loading;
}

// vars are the placeholders' values for the current chat.
function vars() {
  const s = S.sessions.get(S.current);
  return { number: S.numbers.get(S.current) || '', district: (s && s.citizen && s.citizen.district) || '' };
}

function hide() {
  R.token = null;
  $('reply-menu').hidden = true;
}

function renderMenu(box) {
  const menu = $('reply-menu');
  R.flat = R.groups.flatMap((g) => g.replies);
  if (R.active >= R.flat.length) R.active = 0;
  let i = 0;
  menu.replaceChildren(...R.groups.map((g) => el('li', { class: 'reply-group' },
    el('div', { class: 'reply-topic', text: g.topic || t('replies.noTopic') }),
    el('ul', {}, ...g.replies.map((r) => {
      const n = i++;
      return el('li', { class: 'reply-item' + (n === R.active ? ' active' : ''), role: 'option', 'aria-selected': String(n === R.active),
        dataset: { keyword: r.keyword }, onmousedown: (e) => { e.preventDefault(); choose(box, n); } },
      el('span', { class: 'reply-kw', text: '/' + r.keyword }), el('span', { class: 'reply-text', text: r.text }));
    })))));
  if (!R.flat.length) menu.append(el('li', { class: 'reply-none', text: R.error ? t('replies.failed', { msg: R.error }) : t('replies.none') }));
  menu.hidden = false;
}

async function update(box) {
  const tok = slashToken(box.value, box.selectionStart);
  if (!tok || !S.current) { hide(); return; }
  const list = await load(false);
  const again = slashToken(box.value, box.selectionStart); // typed on while loading
  if (!again) { hide(); return; }
  R.token = again;
  R.groups = matchReplies(list, again.query, I18n.lang);
  renderMenu(box);
}

function choose(box, n) {
  const r = R.flat[n];
  if (!r || !R.token) return;
  const out = insertAt(box.value, R.token.start, R.token.end, fillPlaceholders(r.text, vars()));
  box.value = out.text;
  box.setSelectionRange(out.caret, out.caret);
  hide();
  box.focus();
  box.dispatchEvent(new Event('input'));
}

// wireReplies follows the composer's textarea; submit sends it (Enter
// without the menu open, Shift+Enter for a new line).
export function wireReplies(box, submit) {
  box.addEventListener('input', () => { update(box); });
  box.addEventListener('click', () => { update(box); });
  box.addEventListener('blur', () => setTimeout(hide, 150));
  box.addEventListener('keydown', (e) => {
    const open = !$('reply-menu').hidden && R.flat.length > 0;
    if (open && (e.key === 'ArrowDown' || e.key === 'ArrowUp')) {
      e.preventDefault();
      R.active = (R.active + (e.key === 'ArrowDown' ? 1 : R.flat.length - 1)) % R.flat.length;
      renderMenu(box);
    } else if (open && (e.key === 'Enter' || e.key === 'Tab') && !e.isComposing) {
      e.preventDefault();
      choose(box, R.active);
    } else if (e.key === 'Escape' && !$('reply-menu').hidden) {
      hide();
    } else if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      submit();
    }
  });
  $('replies-open').addEventListener('click', openEditor);
  $('replies-cancel').addEventListener('click', () => { $('replies-editor').hidden = true; });
  $('replies-form').addEventListener('submit', save);
}

export function renderRepliesButton() {
  $('replies-open').hidden = !isSupervisor();
}

// openEditor shows the dialog once the set is loaded: shown before, the
// load's answer would replace what the supervisor had begun to type.
async function openEditor() {
  const list = await load(true);
  $('replies-msg').textContent = R.error ? t('replies.failed', { msg: R.error }) : '';
  $('replies-json').value = JSON.stringify(list, null, 2);
  $('replies-editor').hidden = false;
  $('replies-json').focus();
}

async function save(e) {
  e.preventDefault();
  const msg = $('replies-msg');
  let list;
  try { list = JSON.parse($('replies-json').value); } catch (err) { msg.textContent = t('replies.badJSON', { msg: err.message }); return; }
  const errs = validReplies(list);
  if (errs.length) { msg.textContent = errs.map((x) => t(x.key, { row: x.row })).join(' '); return; }
  try {
    await putJSON('/v1/replies', { replies: list });
    R.list = list;
    R.at = Date.now();
    msg.textContent = '';
    $('replies-editor').hidden = true;
  } catch (err) {
    msg.textContent = t('replies.saveFailed', { msg: err.message });
  }
}
