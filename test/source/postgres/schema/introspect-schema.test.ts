import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { SchemaModel, TableDef } from '../../../../src/core/schema-model.ts';
import { connect, resolveEndpoint } from '../../../../src/pg/connection.ts';
import { introspectSchema } from '../../../../src/source/postgres/schema/introspect-schema.ts';
import { createSchemaZoo, ZOO_SCHEMAS } from '../../../support/schema-fixtures.ts';
import { freshDatabase, testServer, urlOf } from '../../../support/servers.ts';

function table(m: SchemaModel, name: string): TableDef {
  const t = m.tables.find((x) => x.name === name);
  assert.ok(t, `table ${name} in the model`);
  return t;
}

for (const version of [13, 17] as const) {
  test(`PostgreSQL ${version}: the zoo introspects into the expected model`, async () => {
    const s = testServer(version);
    const db = await freshDatabase(s, 'introspect');
    await createSchemaZoo(s, db);
    const c = await connect(resolveEndpoint({ type: 'postgresql', url: urlOf(s, db) }), { role: 'source' });
    try {
      await c.query('SET search_path = public, "Sales Dept"');
      const m = await introspectSchema(
        c,
        ZOO_SCHEMAS.map((schema) => ({ kind: 'schema', schema })),
      );
      // The caller's session is left as it was.
      assert.equal(
        (await c.query<{ p: string }>("SELECT current_setting('search_path') AS p")).rows[0]?.p,
        'public, "Sales Dept"',
      );

      assert.deepEqual(
        m.schemas.map((x) => [x.name, x.comment]),
        [
          ['Sales Dept', "sales: it's awkward"],
          ['Ünïcödé', undefined],
        ],
      );
      assert.deepEqual(m.extensions, [
        {
          kind: 'extension',
          name: 'citext',
          schema: 'Ünïcödé',
          version: m.extensions[0]?.version,
          usedBy: ['table Sales Dept.customers', 'table Ünïcödé.Ünïcödé Täble'],
        },
      ]);
      // Extension members (citext's functions, types) are not the zoo's own objects.
      assert.ok(m.routines.every((r) => r.schema === 'Sales Dept'));
      assert.deepEqual(
        m.types.map((t) => [t.name, t.kind]),
        [
          ['Order Status', 'enum'],
          ['code', 'domain'],
          ['float_range', 'range'],
          ['money_pair', 'composite'],
          ['positive_int', 'domain'],
          ['small_qty', 'domain'],
        ],
      );
      const smallQty = m.types.find((t) => t.name === 'small_qty');
      assert.ok(smallQty?.kind === 'domain');
      assert.equal(smallQty.notNull, true);
      assert.equal(smallQty.default, '1');
      assert.deepEqual(smallQty.dependsOn, [{ kind: 'type', schema: 'Sales Dept', name: 'positive_int' }]);
      const enumType = m.types.find((t) => t.name === 'Order Status');
      assert.ok(enumType?.kind === 'enum');
      assert.deepEqual(enumType.labels, ['new', 'paid', 'shipped', 'it\'s "done"']);

      const customers = table(m, 'customers');
      const id = customers.columns[0]!;
      assert.equal(id.identity?.generation, 'always');
      assert.equal(id.identity?.options.start, '7');
      assert.equal(id.identity?.options.increment, '2');
      assert.equal(id.default, undefined);
      assert.deepEqual(customers.columns[1]!.collation, { schema: 'pg_catalog', name: 'C' });
      assert.equal(customers.columns[3]!.default, '"Sales Dept".default_region()');
      assert.ok(customers.dependsOn.some((d) => d.kind === 'routine' && d.name === 'default_region()'));

      const items = table(m, 'Order Items');
      assert.ok(items.columns.find((x) => x.name === 'total')?.generated?.includes('price'));
      assert.deepEqual(items.constraints.map((x) => x.kind).sort(), ['check', 'primary-key']);
      assert.equal(items.foreignKeys[0]?.name, 'Order Items_order_fkey');

      assert.deepEqual(table(m, 'measurements_2024').partitionOf, {
        parent: { schema: 'Sales Dept', name: 'measurements' },
        bound: "FOR VALUES FROM ('2024-01-01') TO ('2025-01-01')",
      });
      assert.equal(table(m, 'measurements_default').partitionOf?.bound, 'DEFAULT');
      assert.deepEqual(
        table(m, 'measurements_2024').constraints.find((x) => x.kind === 'primary-key')?.parentIndex,
        {
          schema: 'Sales Dept',
          name: 'measurements_pkey',
        },
      );
      assert.equal(table(m, 'regions_us').partitionBy, 'RANGE (year)');
      assert.equal(table(m, 'regions_eu').columns.find((x) => x.name === 'amount')?.default, '1');
      // The CHECK a partition inherits is its parent's, not its own.
      assert.deepEqual(
        table(m, 'measurements_2024')
          .constraints.filter((x) => x.kind === 'check')
          .map((x) => [x.name, x.inherited]),
        [['measurements_value_check', true]],
      );
      assert.deepEqual(
        table(m, 'measurements_2026').columns.map((x) => x.name),
        ['value', 'taken_at', 'id'],
      );

      const audit = table(m, 'audit log');
      assert.equal(audit.unlogged, true);
      assert.equal(audit.replicaIdentity, 'full');
      assert.deepEqual(audit.options, ['fillfactor=70']);
      assert.deepEqual(table(m, 'weird"name').replicaIdentity, { index: 'weird"name_uq' });
      assert.equal(table(m, 'keyless').constraints.length, 0);

      assert.deepEqual(
        m.sequences.map((x) => [x.name, x.ownedBy?.table.name, x.ownedBy?.column]),
        [
          ['Invoice Numbers', 'orders', 'invoice'],
          ['Order Items_line_seq', 'Order Items', 'line'],
          ['free_seq', undefined, undefined],
        ],
      );
      assert.deepEqual(m.sequences[0]!.options, {
        type: 'integer',
        start: '1000',
        increment: '5',
        min: '10',
        max: '999999',
        cache: '3',
        cycle: true,
      });

      assert.deepEqual(
        m.triggers.map((x) => [x.name, x.enabled]),
        [
          ['touch orders', 'origin'],
          ['touch_disabled', 'disabled'],
          ['touch_replica', 'replica'],
        ],
      );
      assert.deepEqual(
        m.views.map((v) => [v.name, v.kind, v.populated]),
        [
          ['Open Orders', 'view', false],
          ['open_order_count', 'view', false],
          ['order_totals', 'materialized-view', true],
          ['v_customers', 'view', false],
        ],
      );
      assert.deepEqual(m.views[1]!.dependsOn, [{ kind: 'view', schema: 'Sales Dept', name: 'Open Orders' }]);
      assert.deepEqual(m.views[1]!.options, ['security_barrier=true']);
      assert.ok(m.indexes.some((i) => i.name === 'customers_lower_name' && i.clustered));
      assert.ok(
        m.indexes.some(
          (i) => i.name === 'measurements_2024_value_idx' && i.parentIndex?.name === 'measurements_value_idx',
        ),
      );
      // Nothing from the unselected schema.
      assert.ok(
        [...m.tables, ...m.views, ...m.types, ...m.sequences, ...m.routines, ...m.indexes].every(
          (o) => o.schema !== 'other',
        ),
      );
      await assert.rejects(introspectSchema(c, [{ kind: 'schema', schema: 'nope' }]), {
        code: 'CONFIG_INVALID',
      });
      await assert.rejects(
        introspectSchema(c, [{ kind: 'table', table: { schema: 'Sales Dept', name: 'nope' } }]),
        { code: 'CONFIG_INVALID' },
      );
    } finally {
      await c.end();
    }
  });
}
