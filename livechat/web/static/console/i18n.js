// i18n.js: the console's dictionary (i18n.json: {"zh-CN": {…}, "en": {…}}),
// the language picked from ?lang=, the agent's last choice or the browser.
const LANG_KEY = 'hotline12345.lang';
const SUPPORTED = ['zh-CN', 'en'];

export function normLang(l) {
  if (!l) return null;
  l = String(l).toLowerCase();
  if (l.startsWith('zh')) return 'zh-CN';
  if (l.startsWith('en')) return 'en';
  return null;
}

function pickLang() {
  const q = new URLSearchParams(location.search).get('lang');
  const stored = (() => { try { return localStorage.getItem(LANG_KEY); } catch (e) { return null; } })();
  for (const l of [q, stored]) {
    const n = normLang(l);
    if (n) return n;
  }
  return normLang(navigator.language || '') || 'en';
}

export const I18n = {
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

export const t = (k, v) => I18n.t(k, v);

// nameOr is the dictionary's name for prefix+key, or key itself when it has none.
export function nameOr(prefix, key, none) {
  if (!key) return none === undefined ? '' : none;
  const k = prefix + key;
  const name = t(k);
  return name === k ? key : name;
}

export const channelName = (c) => nameOr('channel.', c);

// clockTime is a time of day in the console's language: 14:03:09.
export function clockTime(ms) {
  return new Date(ms).toLocaleTimeString(I18n.lang, { hour: '2-digit', minute: '2-digit', second: '2-digit', hour12: false });
}
