import assert from 'node:assert/strict';
import { test } from 'node:test';
import { formatLsn, lsnDiffBytes, parseLsn } from '../../src/core/lsn.ts';

test('parseLsn/formatLsn round-trip the text form', () => {
  for (const t of ['0/0', '0/16B3748', 'FFFFFFFF/FFFFFFFF', '1/0']) assert.equal(formatLsn(parseLsn(t)), t);
  assert.equal(parseLsn('1/0'), 1n << 32n);
  assert.equal(lsnDiffBytes(parseLsn('0/200'), parseLsn('0/100')), 256);
  assert.equal(lsnDiffBytes(parseLsn('0/100'), parseLsn('0/200')), 0);
});

test('parseLsn rejects malformed text', () => {
  for (const t of ['', '0', '0/', 'G/0', '123456789/0', '0/0/0'])
    assert.throws(() => parseLsn(t), RangeError);
});
