// i18n.js: the console's dictionary (i18n.json: {"zh-CN": {…}, "en": {…}})
// through the shared I18n of lib.js, and helpers for names in it.
export const { I18n, normLang } = Lib; // shared/lib.js, with the widget

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
