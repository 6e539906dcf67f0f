/**
 * `pgdts grants` for a PostgreSQL source: the least a task's source user needs, as SQL for a DBA to
 * review and run (PostgreSQL docs, "GRANT", "CREATE PUBLICATION", "Logical Replication" >
 * "Security"): REPLICATION to create the slot and stream (incremental); CONNECT; USAGE on the
 * selected schemas; SELECT on the selected tables (copy, verify) and sequences (their values). The
 * publication is created (or completed) here by the DBA, as the tables' owner, so the user needs
 * neither ownership of the tables nor CREATE on the database, and `pgdts release` leaves it in place.
 */
import type pg from 'pg';
import { displayName, quoteIdent, quoteQualified } from '../../core/identifier.ts';
import type { AccessRecipe } from '../../core/precheck.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import { hasSyncType, publicationNameOf, type TaskConfig } from '../../core/task-config.ts';
import { describeEndpoint, type ConnectionParams } from '../../pg/connection.ts';
import { heartbeatRecipe } from './heartbeat-catalog.ts';
import { existingSlotPublicationProblem } from './existing-slot.ts';
import { missingFromPublication, publicationEntry, publicationTables } from './publication-coverage.ts';
import { listSelectedSequences } from './sequences.ts';

/**
 * The source recipe of `task` for its selected tables (`targets`: with their row filters, which a
 * publication of PostgreSQL `major` 15+ carries), read from the catalog through `client`.
 */
export async function sourceAccessRecipe(
  client: pg.Client,
  params: ConnectionParams,
  major: number,
  task: TaskConfig,
  targets: readonly TableTarget[],
): Promise<AccessRecipe> {
  const tables = targets.map((t) => t.source);
  const rowFilters = new Map(
    targets.flatMap((t) => (t.where === undefined ? [] : [[displayName(t.source), t.where] as const])),
  );
  const entry = (t: SelectedTable) => publicationEntry(t, rowFilters, major);
  const who = quoteIdent(params.user);
  const statements: string[] = [];
  const notes: string[] = [];
  const incremental = hasSyncType(task, 'incremental');
  if (incremental) statements.push(`ALTER ROLE ${who} REPLICATION`);
  statements.push(`GRANT CONNECT ON DATABASE ${quoteIdent(params.database)} TO ${who}`);
  const schemas = [
    ...new Set([
      ...task.objects.flatMap((o) => (o.kind === 'schema' ? [o.schema] : [])),
      ...tables.map((t) => t.schema),
    ]),
  ].sort();
  if (schemas.length > 0)
    statements.push(`GRANT USAGE ON SCHEMA ${schemas.map(quoteIdent).join(', ')} TO ${who}`);
  if (tables.length > 0)
    statements.push(`GRANT SELECT ON TABLE ${tables.map(quoteQualified).join(', ')} TO ${who}`);
  const sequences = await listSelectedSequences(client, task.objects);
  if (sequences.length > 0) {
    statements.push(`GRANT SELECT ON SEQUENCE ${sequences.map(quoteQualified).join(', ')} TO ${who}`);
  }
  if (incremental) {
    const pub = publicationNameOf(task);
    const hb = task.source.heartbeat;
    const beat =
      hb === undefined
        ? undefined
        : await heartbeatRecipe(client, {
            user: params.user,
            major,
            table: hb.table,
            intervalMs: hb.intervalMs,
            publication: pub,
            grantedSchemas: schemas,
          });
    statements.push(...(beat?.statements ?? []));
    notes.push(...(beat?.notes ?? []));
    const heartbeatTable = beat?.toPublish === undefined ? [] : [beat.toPublish];
    const p = await client.query<{ all: boolean; ops: boolean }>(
      `SELECT puballtables AS all, pubinsert AND pubupdate AND pubdelete AND pubtruncate AS ops
         FROM pg_publication WHERE pubname = $1`,
      [pub],
    );
    const roots = publicationTables(tables);
    const existing = p.rows[0];
    const slot = task.incremental.existingSlot;
    if (slot !== undefined) {
      // Its changes decode only with the publication they were written under (existing-slot.ts):
      // nothing to create or add here, only what the task must name.
      const listed = await client.query<{ schema: string; name: string }>(
        'SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1',
        [pub],
      );
      const problem = existingSlotPublicationProblem(
        slot,
        pub,
        existing === undefined ? undefined : missingFromPublication(tables, listed.rows),
      );
      if (problem !== undefined) notes.push(`${problem.message}: ${problem.fix}`);
      if (existing !== undefined && heartbeatTable.length > 0) {
        statements.push(
          `ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${heartbeatTable.map(quoteQualified).join(', ')}`,
        );
      }
      notes.push(
        `replication slot ${slot} (incremental.existingSlot) is streamed from its confirmed position and never dropped by pgdts; no other consumer may hold it when the task starts`,
      );
    } else if (existing === undefined) {
      const listed = [...roots.map(entry), ...heartbeatTable.map(quoteQualified)];
      if (listed.length > 0)
        statements.push(`CREATE PUBLICATION ${quoteIdent(pub)} FOR TABLE ${listed.join(', ')}`);
    } else {
      if (!existing.ops) {
        statements.push(
          `ALTER PUBLICATION ${quoteIdent(pub)} SET (publish = 'insert, update, delete, truncate')`,
        );
      }
      const listed = await client.query<{ schema: string; name: string }>(
        'SELECT schemaname AS schema, tablename AS name FROM pg_publication_tables WHERE pubname = $1',
        [pub],
      );
      const missing = [
        ...missingFromPublication(tables, listed.rows).map(entry),
        ...heartbeatTable.map(quoteQualified),
      ];
      if (missing.length > 0) {
        statements.push(`ALTER PUBLICATION ${quoteIdent(pub)} ADD TABLE ${missing.join(', ')}`);
      }
    }
    if (slot === undefined) {
      notes.push(
        `publication ${pub} is made by the tables' owner: ${params.user} needs neither their ownership nor CREATE on the database, and pgdts release keeps it`,
      );
    }
    notes.push('a replication connection is matched in pg_hba.conf by the database name, like any other');
  }
  return {
    side: 'source',
    target: describeEndpoint(params),
    runAs: 'a superuser or the owner of the selected tables',
    statements,
    notes,
  };
}
