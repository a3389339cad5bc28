// Unit tests of the console's pure formatting (static/console/format.js).
// Run by TestConsoleUnit (node --test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { parseTime, mmss, dateTime, dateInput, countdown, shortID, isNumber, chatLabel, titleWithCount } from '../../static/console/format.js';

test('mmss', () => {
  for (const [in_, out] of [[0, '00:00'], [59.9, '00:59'], [61, '01:01'], [3599, '59:59'], [3600, '1:00:00'], [3725, '1:02:05'], [-5, '-00:05'], [-61, '-01:01']]) {
    assert.equal(mmss(in_), out, String(in_));
  }
});

test('parseTime ignores empty and zero times', () => {
  assert.equal(parseTime(''), 0);
  assert.equal(parseTime(undefined), 0);
  assert.equal(parseTime('0001-01-01T00:00:00Z'), 0);
  assert.equal(parseTime('not a time'), 0);
  assert.equal(parseTime('2024-05-01T06:03:00Z'), Date.UTC(2024, 4, 1, 6, 3));
});

test('dateTime and dateInput are local', () => {
  const ms = new Date(2024, 4, 1, 9, 7, 30).getTime();
  assert.equal(dateTime(ms), '2024-05-01 09:07');
  assert.equal(dateTime(0), '—');
  assert.equal(dateInput(ms), '2024-05-01');
});

test('countdown', () => {
  assert.equal(countdown(0, 1000), null);
  assert.deepEqual(countdown(181000, 1000), { left: 180, overdue: false, urgent: false, text: '03:00' });
  assert.deepEqual(countdown(60000, 1000), { left: 59, overdue: false, urgent: true, text: '00:59' });
  assert.deepEqual(countdown(1000, 13000), { left: -12, overdue: true, urgent: true, text: '00:12' });
});

test('request numbers name a chat, the session id only without one', () => {
  assert.equal(shortID('0190a3e1-77aa-7c3d-b1e6-f2a9c863b268'), '63b268');
  assert.ok(isNumber('240501000123'));
  assert.ok(isNumber('12345678'));
  assert.ok(!isNumber('1234567'));
  assert.ok(!isNumber('123456789012345'));
  assert.ok(!isNumber('24050100012a'));
  assert.equal(chatLabel('240501000123', 'abc-63b268'), '240501000123');
  assert.equal(chatLabel('', 'abc-63b268'), '#63b268');
  assert.equal(chatLabel(undefined, 'abc-63b268'), '#63b268');
});

test('titleWithCount', () => {
  assert.equal(titleWithCount('12345 坐席台', 0), '12345 坐席台');
  assert.equal(titleWithCount('12345 坐席台', 2), '(2) 12345 坐席台');
  assert.equal(titleWithCount('(2) 12345 坐席台', 3), '(3) 12345 坐席台');
  assert.equal(titleWithCount('(3) 12345 坐席台', 0), '12345 坐席台');
});
