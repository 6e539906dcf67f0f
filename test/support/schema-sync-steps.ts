/**
 * The steps of schema sync on real servers, for schema tests: connect, introspect a selection, and
 * apply a model's plan (pre-data on one connection, post-data on `postDataConnections` in parallel,
 * as a run does around the data load).
 */
import type pg from 'pg';
import type { ReadSchemaOptions, SchemaModel } from '../../src/core/schema-model.ts';
import type { ObjectSelector } from '../../src/core/task-config.ts';
import { connect, resolveEndpoint } from '../../src/pg/connection.ts';
import {
  applySchemaDdl,
  applySchemaDdlParallel,
  type DdlEvent,
} from '../../src/sink/postgres/schema/apply-schema-ddl.ts';
import { planSchemaDdl } from '../../src/sink/postgres/schema/plan-schema-ddl.ts';
import { introspectSchema } from '../../src/source/postgres/schema/introspect-schema.ts';
import { urlOf, type TestServer } from './servers.ts';

/** A connection to `db` on `s` as pgdts makes one. */
export function schemaClient(s: TestServer, db: string): Promise<pg.Client> {
  return connect(resolveEndpoint({ type: 'postgresql', url: urlOf(s, db) }), { role: 'source' });
}

/** The schema model of `objects` in `db` (with owners and privileges when `options` asks). */
export async function introspectDb(
  s: TestServer,
  db: string,
  objects: readonly ObjectSelector[],
  options: ReadSchemaOptions = {},
): Promise<SchemaModel> {
  const c = await schemaClient(s, db);
  try {
    return await introspectSchema(c, objects, options);
  } finally {
    await c.end();
  }
}

/** Plans and applies `model` in `db`; returns every statement's event, pre-data first. */
export async function syncModel(
  model: SchemaModel,
  s: TestServer,
  db: string,
  postDataConnections = 2,
): Promise<DdlEvent[]> {
  const plan = planSchemaDdl(model);
  const clients = await Promise.all(Array.from({ length: postDataConnections }, () => schemaClient(s, db)));
  try {
    const pre = await applySchemaDdl(clients[0]!, plan.preData);
    const post = await applySchemaDdlParallel(clients, plan.postData);
    const access = await applySchemaDdl(clients[0]!, plan.privileges);
    return [...pre, ...post, ...access];
  } finally {
    await Promise.all(clients.map((c) => c.end()));
  }
}
