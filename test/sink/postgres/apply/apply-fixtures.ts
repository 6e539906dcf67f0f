/**
 * Helpers for the apply tests: hand-built Relations/Changes that describe real tables, a destination
 * connection, and content hashes to compare a source database with the destination.
 */
import type pg from 'pg';
import type { Change, Datum, Relation, ReplicaIdentity } from '../../../../src/core/change.ts';
import { quoteIdent, quoteQualified } from '../../../../src/core/identifier.ts';
import type { Lsn } from '../../../../src/core/lsn.ts';
import { connect } from '../../../../src/pg/connection.ts';
import type { PostgresChangeApplier } from '../../../../src/sink/postgres/apply/postgres-change-applier.ts';
import { sql, type TestServer } from '../../../support/servers.ts';

let nextRelationId = 16384;

/** A Relation as the stream would send it; `keys` names the replica identity columns. */
export function relation(
  schema: string,
  name: string,
  columns: readonly string[],
  keys: readonly string[],
  replicaIdentity: ReplicaIdentity = 'default',
): Relation {
  return {
    id: nextRelationId++,
    schema,
    name,
    replicaIdentity,
    columns: columns.map((c) => ({ name: c, typeOid: 25, typeModifier: -1, isKey: keys.includes(c) })),
  };
}

/** An LSN from a number (tests only). */
export function lsn(n: number): Lsn {
  return BigInt(n) as Lsn;
}

/** A destination-role connection to a test database. */
export async function destinationClient(s: TestServer, database: string): Promise<pg.Client> {
  return connect(
    {
      host: s.host,
      port: s.port,
      user: s.user,
      password: s.password,
      database,
      ssl: false,
      connectTimeoutMs: 10_000,
    },
    { role: 'destination', applicationName: 'pgdts-apply-test' },
  );
}

/**
 * Feeds one source transaction (commit LSN `at`, end LSN `at + 1`) to the applier, without
 * committing the destination transaction.
 */
export async function sourceTransaction(
  applier: PostgresChangeApplier,
  xid: number,
  at: number,
  changes: readonly Change[],
): Promise<void> {
  applier.beginTransaction({ xid, finalLsn: lsn(at) });
  for (const c of changes) await applier.add(c);
  applier.commitTransaction({
    xid,
    commitLsn: lsn(at),
    endLsn: lsn(at + 1),
    commitTimeMs: 1_700_000_000_000 + at,
  });
}

/** md5 over the sorted text form of every row of a table (order-independent content hash). */
export async function tableHash(s: TestServer, db: string, schema: string, name: string): Promise<string> {
  const rows = await sql<{ h: string }>(
    s,
    db,
    `SELECT md5(coalesce(string_agg(t::text, E'\\n' ORDER BY t::text), '')) AS h FROM ${quoteQualified({ schema, name })} AS t`,
  );
  return rows[0]?.h ?? '';
}

/** Every row of a table as text Datums (what pgoutput would send), in `orderBy` order. */
export async function rowsAsText(
  s: TestServer,
  db: string,
  schema: string,
  name: string,
  columns: readonly string[],
  orderBy = 'ctid',
): Promise<Datum[][]> {
  const rows = await sql<{ v: (string | null)[] }>(
    s,
    db,
    `SELECT ARRAY[${columns.map((c) => `${quoteIdent(c)}::text`).join(', ')}] AS v FROM ${quoteQualified({ schema, name })} ORDER BY ${orderBy}`,
  );
  return rows.map((r) => r.v);
}
