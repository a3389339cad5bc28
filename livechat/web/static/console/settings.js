// settings.js: the agent's alert settings, pure (node --test: settings.test.mjs).
// Each kind of event (a new offer, an SLA warning, a supervisor's alert) can
// ring (sound), show a desktop notification and count in the tab title;
// each of the nine can be switched off. Stored per agent in localStorage.

export const KINDS = ['offer', 'sla', 'alert'];
export const WAYS = ['sound', 'desktop', 'title'];

export const settingsKey = (agentID) => 'hotline12345.alerts.' + (agentID || '');

// parseSettings reads what localStorage held (a JSON string, or null): every
// kind and way on unless stored as false.
export function parseSettings(raw) {
  let stored = {};
  try { stored = JSON.parse(raw || '{}') || {}; } catch (e) { stored = {}; }
  const out = {};
  for (const k of KINDS) {
    out[k] = {};
    for (const w of WAYS) out[k][w] = !(stored[k] && stored[k][w] === false);
  }
  return out;
}

export function setSetting(settings, kind, way, on) {
  const out = parseSettings(JSON.stringify(settings));
  if (out[kind] && way in out[kind]) out[kind][way] = !!on;
  return out;
}

// wantsDesktop: whether any kind asks for desktop notifications (the
// permission is asked for only then).
export const wantsDesktop = (settings) => KINDS.some((k) => settings[k] && settings[k].desktop);
