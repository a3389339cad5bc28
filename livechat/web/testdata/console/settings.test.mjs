// Unit tests of the alert settings (static/console/settings.js).
// Run by TestConsoleUnit (node --test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { KINDS, WAYS, settingsKey, parseSettings, setSetting, wantsDesktop } from '../../static/console/settings.js';

test('every alert is on by default, also after garbage', () => {
  for (const raw of [null, '', '{', '[]', '{"offer": 3}']) {
    const s = parseSettings(raw);
    for (const k of KINDS) for (const w of WAYS) assert.equal(s[k][w], true, raw + ' ' + k + ' ' + w);
  }
});

test('switched off one by one, and stored per agent', () => {
  let s = setSetting(parseSettings(null), 'offer', 'sound', false);
  s = setSetting(s, 'sla', 'desktop', false);
  s = setSetting(s, 'nope', 'sound', false);
  const back = parseSettings(JSON.stringify(s));
  assert.equal(back.offer.sound, false);
  assert.equal(back.offer.desktop, true);
  assert.equal(back.sla.desktop, false);
  assert.equal(back.alert.title, true);
  assert.ok(wantsDesktop(back));
  for (const k of KINDS) s = setSetting(s, k, 'desktop', false);
  assert.ok(!wantsDesktop(s));
  assert.equal(settingsKey('a1'), 'hotline12345.alerts.a1');
});
