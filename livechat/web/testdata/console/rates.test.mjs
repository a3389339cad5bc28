// Unit tests of the satisfaction panel's pure logic (static/console/rates.js).
// Run by TestConsoleUnit (node --test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { GROUPS, lastDays, reportQuery, percent, csvName } from '../../static/console/rates.js';

test('percent: one decimal, above 100 % allowed, none for no base', () => {
  for (const [in_, out] of [[1.2081, '120.8%'], [1, '100.0%'], [0, '0.0%'], [0.7, '70.0%'], [0.9583333333333334, '95.8%'],
    [0.66666, '66.7%'], [0.0005, '0.1%'], [0.00049, '0.0%'], [null, '—'], [undefined, '—'], [NaN, '—']]) {
    assert.equal(percent(in_), out, String(in_));
  }
});

test('lastDays: today and the six days before, local', () => {
  assert.deepEqual(lastDays(new Date(2024, 4, 7, 23, 59).getTime()), { from: '2024-05-01', to: '2024-05-07' });
  assert.deepEqual(lastDays(new Date(2024, 2, 3, 0, 1).getTime()), { from: '2024-02-26', to: '2024-03-03' }, 'across a leap day');
  assert.deepEqual(lastDays(new Date(2024, 0, 2, 8).getTime(), 1), { from: '2024-01-02', to: '2024-01-02' });
});

test('reportQuery', () => {
  assert.deepEqual(GROUPS, ['channel', 'handling_unit', 'district']);
  assert.deepEqual(reportQuery({ group: 'district', from: '2024-05-01', to: '2024-05-07' }), { query: 'group=district&from=2024-05-01&to=2024-05-07' });
  assert.deepEqual(reportQuery({ group: 'nope', from: '2024-05-01', to: '2024-05-01' }), { query: 'group=channel&from=2024-05-01&to=2024-05-01' });
  assert.deepEqual(reportQuery({ group: 'handling_unit', from: '2024-05-01', to: '2024-05-02', format: 'csv' }),
    { query: 'group=handling_unit&from=2024-05-01&to=2024-05-02&format=csv' });
  assert.deepEqual(reportQuery({ group: 'channel', from: '2024-05-02', to: '2024-05-01' }), { error: 'sat.badRange' });
  assert.deepEqual(reportQuery({ group: 'channel', from: '', to: '2024-05-01' }), { error: 'sat.badDate' });
  assert.deepEqual(reportQuery({ group: 'channel', from: '2024-5-1', to: '2024-05-01' }), { error: 'sat.badDate' });
});

test('csvName', () => {
  assert.equal(csvName('channel', '2024-05-01', '2024-05-07'), 'satisfaction_channel_2024-05-01_2024-05-07.csv');
  assert.equal(csvName('../x', '2024/05/01', ''), 'satisfaction_x_20240501_.csv');
});
