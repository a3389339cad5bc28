// Unit tests of the console's pure matching (static/console/match.js).
// Run by TestConsoleUnit (node --test).
import test from 'node:test';
import assert from 'node:assert/strict';
import { slashToken, replyText, matchReplies, fillPlaceholders, insertAt, validReplies, chatsQuery } from '../../static/console/match.js';

const replies = [
  { keyword: 'ludeng', topic: '市政设施', zh: '您反映的路灯问题（编号 {number}）已转{district}市政养护所。', en: 'Your street light report ({number}) went to the {district} maintenance office.' },
  { keyword: 'lvhua', topic: '市政设施', zh: '绿化问题已记录。', en: 'The greenery issue is recorded.' },
  { keyword: 'zaoyin', topic: '环境保护', zh: '噪音扰民请提供具体时段。', en: '' },
  { keyword: 'thanks', topic: '', zh: '感谢您的来电。', en: 'Thank you for contacting 12345.' },
];

test('slashToken', () => {
  assert.deepEqual(slashToken('/lu', 3), { start: 0, end: 3, query: 'lu' });
  assert.deepEqual(slashToken('您好 /lu', 6), { start: 3, end: 6, query: 'lu' });
  assert.deepEqual(slashToken('/', 1), { start: 0, end: 1, query: '' });
  assert.deepEqual(slashToken('/lu 好', 3), { start: 0, end: 3, query: 'lu' });
  assert.equal(slashToken('http://x', 8), null, 'a slash inside a word is not a shortcut');
  assert.equal(slashToken('/lu 好', 5), null, 'after a space the shortcut is over');
  assert.equal(slashToken('abc', 3), null);
  assert.deepEqual(slashToken('x /ab'), { start: 2, end: 5, query: 'ab' });
});

test('replyText falls back to the other language', () => {
  assert.equal(replyText(replies[2], 'en'), '噪音扰民请提供具体时段。');
  assert.equal(replyText(replies[3], 'zh-CN'), '感谢您的来电。');
  assert.equal(replyText(replies[3], 'en'), 'Thank you for contacting 12345.');
});

test('matchReplies: prefix first, grouped by topic in the set order', () => {
  const g = matchReplies(replies, 'l', 'zh-CN');
  assert.deepEqual(g.map((x) => x.topic), ['市政设施']);
  assert.deepEqual(g[0].replies.map((r) => r.keyword), ['ludeng', 'lvhua']);
  assert.deepEqual(matchReplies(replies, 'LUD', 'en')[0].replies[0].text, replies[0].en);
  const all = matchReplies(replies, '', 'zh-CN');
  assert.deepEqual(all.map((x) => x.topic), ['市政设施', '环境保护', '']);
  // a keyword containing the query comes after one starting with it; then topic and text
  const h = matchReplies(replies, 'an', 'en');
  assert.deepEqual(h.flatMap((x) => x.replies.map((r) => r.keyword)), ['thanks', 'ludeng']);
  assert.deepEqual(matchReplies(replies, '环境', 'zh-CN')[0].replies.map((r) => r.keyword), ['zaoyin']);
  assert.deepEqual(matchReplies(replies, 'nothing', 'zh-CN'), []);
  assert.equal(matchReplies(replies, '', 'en', 2).flatMap((x) => x.replies).length, 2);
});

test('fillPlaceholders keeps what it cannot fill', () => {
  assert.equal(fillPlaceholders(replies[0].zh, { number: '240501000123', district: '黄浦区' }),
    '您反映的路灯问题（编号 240501000123）已转黄浦区市政养护所。');
  assert.equal(fillPlaceholders(replies[0].en, { number: '240501000123', district: '' }),
    'Your street light report (240501000123) went to the {district} maintenance office.');
});

test('insertAt', () => {
  assert.deepEqual(insertAt('您好 /lu', 3, 6, 'X'), { text: '您好 X', caret: 4 });
  assert.deepEqual(insertAt('/lu 再见', 0, 3, 'AB'), { text: 'AB 再见', caret: 2 });
});

test('validReplies', () => {
  assert.deepEqual(validReplies(replies), []);
  assert.deepEqual(validReplies({}), [{ key: 'replies.notList', row: 0 }]);
  assert.deepEqual(validReplies([{ keyword: 'a b', zh: 'x' }, { keyword: 'A', zh: '' }, { keyword: 'a', en: 'y' }]),
    [{ key: 'replies.badKeyword', row: 1 }, { key: 'replies.noText', row: 2 }, { key: 'replies.dupKeyword', row: 3 }]);
});

test('chatsQuery', () => {
  assert.deepEqual(chatsQuery({}), { query: 'limit=50' });
  assert.deepEqual(chatsQuery({ number: ' 2405-0100 0123 ', channel: 'web', q: ' 路灯 ', agent_id: '' }),
    { query: 'number=240501000123&channel=web&q=%E8%B7%AF%E7%81%AF&limit=50' });
  assert.deepEqual(chatsQuery({ number: '24x' }), { error: 'search.badNumber' });
  assert.deepEqual(chatsQuery({ from: '2024-05-02', to: '2024-05-01' }), { error: 'search.badRange' });
  const q = new URLSearchParams(chatsQuery({ from: '2024-05-01', to: '2024-05-01', agent_id: 'a1' }, 20).query);
  assert.equal(q.get('from'), new Date(2024, 4, 1).toISOString());
  assert.equal(q.get('to'), new Date(2024, 4, 1, 23, 59, 59, 999).toISOString());
  assert.equal(q.get('agent_id'), 'a1');
  assert.equal(q.get('limit'), '20');
});
