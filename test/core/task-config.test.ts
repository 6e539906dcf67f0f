import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigError } from '../../src/core/errors.ts';
import { parseTaskConfig } from '../../src/core/task-config.ts';
import { configRefusal } from '../support/config-refusal.ts';

const valid = {
  name: 'orders-migration',
  source: { type: 'postgresql', url: 'postgresql://u:secret@127.0.0.1:5432/app' },
  destination: { type: 'postgresql', host: '127.0.0.1', port: 5433, user: 'u', database: 'app' },
  syncTypes: ['schema', 'full'],
  objects: [{ schema: 'public' }, { table: '"Sales Dept"."Order Items"' }, { table: 'Sales.Orders' }],
};

test('a valid task file parses, with defaults and identifier folding', () => {
  const t = parseTaskConfig(valid);
  assert.equal(t.full.jobs, 4);
  assert.deepEqual(t.objects, [
    { kind: 'schema', schema: 'public' },
    { kind: 'table', table: { schema: 'Sales Dept', name: 'Order Items' } },
    { kind: 'table', table: { schema: 'sales', name: 'orders' } },
  ]);
});

const refusal = (doc: unknown): ConfigError => configRefusal(() => parseTaskConfig(doc));

test('bad task files are refused naming the key and the rule, without the password', () => {
  assert.match(refusal({ ...valid, name: '' }).message, /^name: must be 1-64 characters/);
  assert.match(refusal({ ...valid, name: 'x'.repeat(65) }).message, /^name: must be 1-64/);
  assert.match(refusal({ ...valid, colour: 'red' }).message, /colour: unknown key/);
  assert.match(refusal({ ...valid, syncTypes: [] }).message, /^syncTypes: must list at least one/);
  assert.match(refusal({ ...valid, syncTypes: ['full', 'copy'] }).message, /^syncTypes\[1\]/);
  assert.match(
    refusal({ ...valid, objects: [{ table: 'orders' }] }).message,
    /^objects\[0\]\.table: must be schema.table/,
  );
  assert.match(refusal({ ...valid, objects: [{ table: 'a."b' }] }).message, /unterminated/);
  const e = refusal({ ...valid, source: { ...valid.source, port: 70000 } });
  assert.match(e.message, /source: give url or host\/port, not both|source\.port/);
  assert.doesNotMatch(e.message, /secret/);
  assert.match(
    refusal({ ...valid, destination: { type: 'postgresql', host: 'h', port: 'x' } }).message,
    /destination\.port/,
  );
  assert.match(refusal({ ...valid, destination: { type: 'mysql', host: 'h' } }).message, /destination\.type/);
});

test('retry windows: defaults 720 and 10 minutes, ranges, otherMinutes below connectionMinutes; maxElapsedMs was replaced', () => {
  const t = parseTaskConfig(valid);
  assert.deepEqual(t.retry, {
    connectionMinutes: 720,
    otherMinutes: 10,
    initialDelayMs: 500,
    maxDelayMs: 30_000,
  });
  assert.deepEqual(parseTaskConfig({ ...valid, retry: { connectionMinutes: 10, otherMinutes: 9 } }).retry, {
    connectionMinutes: 10,
    otherMinutes: 9,
    initialDelayMs: 500,
    maxDelayMs: 30_000,
  });
  assert.match(
    refusal({ ...valid, retry: { connectionMinutes: 9 } }).message,
    /^retry\.connectionMinutes: .*>=10/,
  );
  assert.match(
    refusal({ ...valid, retry: { connectionMinutes: 1441 } }).message,
    /^retry\.connectionMinutes: .*<=1440/,
  );
  assert.match(
    refusal({ ...valid, retry: { connectionMinutes: 30.5 } }).message,
    /^retry\.connectionMinutes: .*expected int/,
  );
  assert.match(refusal({ ...valid, retry: { otherMinutes: 0 } }).message, /^retry\.otherMinutes: .*>=1/);
  const order = refusal({ ...valid, retry: { connectionMinutes: 20, otherMinutes: 20 } });
  assert.equal(order.path, 'retry.otherMinutes');
  assert.equal(order.message, 'retry.otherMinutes: must be less than retry.connectionMinutes');
  // The default connection window (720) bounds otherMinutes too.
  assert.match(
    refusal({ ...valid, retry: { otherMinutes: 1000 } }).message,
    /less than retry\.connectionMinutes/,
  );
  const old = refusal({ ...valid, retry: { maxElapsedMs: 30_000, initialDelayMs: 100 } });
  assert.equal(old.path, 'retry.maxElapsedMs');
  assert.match(
    old.message,
    /^retry\.maxElapsedMs: replaced by retry\.connectionMinutes and retry\.otherMinutes/,
  );
});

test('incremental.newTableCheckIntervalMs: default 10000 ms, at least 1000', () => {
  assert.equal(parseTaskConfig(valid).incremental.newTableCheckIntervalMs, 10_000);
  assert.equal(
    parseTaskConfig({ ...valid, incremental: { newTableCheckIntervalMs: 1000 } }).incremental
      .newTableCheckIntervalMs,
    1000,
  );
  assert.match(
    refusal({ ...valid, incremental: { newTableCheckIntervalMs: 999 } }).message,
    /^incremental\.newTableCheckIntervalMs: /,
  );
});
