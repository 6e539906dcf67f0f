/**
 * The heartbeat and start position keys of a task file (README "Task file reference"): defaults,
 * parsing, and every rule refused naming the key.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ConfigError } from '../../src/core/errors.ts';
import { startTimeMsOf } from '../../src/core/start-position.ts';
import { parseTaskConfig, publicationNameOf, slotNameOf } from '../../src/core/task-config.ts';
import { configRefusal } from '../support/config-refusal.ts';

const base = {
  name: 'Orders.Stream',
  source: { type: 'postgresql', url: 'postgresql://u:secret@127.0.0.1:5432/app' },
  destination: { type: 'postgresql', url: 'postgresql://u:secret@127.0.0.1:5433/app' },
  syncTypes: ['incremental'],
  objects: [{ schema: 'public' }, { table: 'sales.orders' }],
};

const refusal = (doc: unknown): ConfigError => configRefusal(() => parseTaskConfig(doc));

const withHeartbeat = (heartbeat: unknown, over: object = {}) => ({
  ...base,
  ...over,
  source: { ...base.source, heartbeat },
});

test('source.heartbeat: default interval, table parsed like objects[].table, absent by default', () => {
  assert.equal(parseTaskConfig(base).source.heartbeat, undefined);
  assert.deepEqual(parseTaskConfig(withHeartbeat({})).source.heartbeat, { intervalMs: 10_000 });
  assert.deepEqual(
    parseTaskConfig(withHeartbeat({ intervalMs: 1000, table: 'Ops."Heart Beat"' })).source.heartbeat,
    { intervalMs: 1000, table: { schema: 'ops', name: 'Heart Beat' } },
  );
});

test('source.heartbeat rules are refused naming the key', () => {
  assert.match(
    refusal(withHeartbeat({ intervalMs: 999 })).message,
    /^source\.heartbeat\.intervalMs: Too small: expected number to be >=1000/,
  );
  assert.match(
    refusal(withHeartbeat({ table: 'pgdts_heartbeat' })).message,
    /^source\.heartbeat\.table: must be schema\.table/,
  );
  assert.match(refusal(withHeartbeat({ every: 5 })).message, /^source\.heartbeat\.every: unknown key/);
  assert.match(
    refusal(withHeartbeat({}, { syncTypes: ['schema', 'full'] })).message,
    /^source\.heartbeat: needs incremental in syncTypes/,
  );
  assert.match(
    refusal(withHeartbeat({ table: 'Sales.Orders' })).message,
    /^source\.heartbeat\.table: must not be a selected table \(objects\[1\]\.table is sales\.orders\)/,
  );
  // The destination has no heartbeat.
  assert.match(
    refusal({ ...base, destination: { ...base.destination, heartbeat: {} } }).message,
    /^destination\.heartbeat: unknown key/,
  );
  // The endpoint rules still hold for the source.
  assert.match(
    refusal({ ...base, source: { type: 'postgresql', heartbeat: {} } }).message,
    /^source: give either url or host/,
  );
});

test('incremental.existingSlot names the slot to stream; the publication keeps its own name', () => {
  const t = parseTaskConfig({ ...base, incremental: { existingSlot: 'legacy_slot' } });
  assert.equal(slotNameOf(t), 'legacy_slot');
  assert.equal(publicationNameOf(t), 'pgdts_orders_stream');
  const own = parseTaskConfig(base);
  assert.equal(slotNameOf(own), 'pgdts_orders_stream');
  assert.equal(publicationNameOf(own), 'pgdts_orders_stream');
  assert.match(
    refusal({ ...base, incremental: { existingSlot: 'Legacy' } }).message,
    /^incremental\.existingSlot: lower-case letters, digits and _ only/,
  );
  assert.match(
    refusal({ ...base, incremental: { existingSlot: 'a', slotName: 'b' } }).message,
    /^incremental\.existingSlot: give existingSlot .* or slotName .*, not both/,
  );
});

test('incremental.startTime takes ISO 8601 with an offset, as one instant', () => {
  for (const [text, ms] of [
    ['2026-11-30T12:00:00Z', Date.UTC(2026, 10, 30, 12)],
    ['2026-11-30T13:00:00+01:00', Date.UTC(2026, 10, 30, 12)],
    ['2026-11-30T12:00:00.250Z', Date.UTC(2026, 10, 30, 12) + 250],
  ] as const) {
    assert.equal(startTimeMsOf(parseTaskConfig({ ...base, incremental: { startTime: text } })), ms);
  }
  assert.equal(startTimeMsOf(parseTaskConfig(base)), undefined);
  for (const bad of ['2026-11-30T12:00:00', '2026-11-30', 'yesterday', '2026-02-30T12:00:00Z']) {
    assert.match(
      refusal({ ...base, incremental: { startTime: bad } }).message,
      /^incremental\.startTime: must be an ISO 8601 date and time with a UTC offset/,
      bad,
    );
  }
});

test('existingSlot and startTime are refused with full in syncTypes, or without incremental', () => {
  for (const key of ['existingSlot', 'startTime'] as const) {
    const value = key === 'existingSlot' ? 'legacy_slot' : '2026-11-30T12:00:00Z';
    for (const syncTypes of [['full', 'incremental'], ['schema', 'full', 'incremental'], ['full']]) {
      assert.match(
        refusal({ ...base, syncTypes, incremental: { [key]: value } }).message,
        new RegExp(
          `^incremental\\.${key}: ${syncTypes.includes('incremental') ? 'only for tasks without full in syncTypes' : 'needs incremental in syncTypes'}`,
        ),
      );
    }
    // Schema sync before streaming is fine.
    parseTaskConfig({ ...base, syncTypes: ['schema', 'incremental'], incremental: { [key]: value } });
  }
});
