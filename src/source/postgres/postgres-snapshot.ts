/**
 * An exported snapshot of a PostgreSQL source as the full sync uses it: units planned and rows read
 * by connections that import it (`SET TRANSACTION SNAPSHOT`; PostgreSQL docs, "Snapshot
 * Synchronization Functions"). The snapshot dies with the connection that exported it.
 */
import type pg from 'pg';
import { PassThrough } from 'node:stream';
import type { Lsn } from '../../core/lsn.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import type { CopyUnit, PlanUnitsOptions, Snapshot, SnapshotReader } from '../../core/source.ts';
import { wrapPgError, type ConnectionParams } from '../../pg/connection.ts';
import { columnTypesFor, copyFormatsFor, copyOut, openSnapshotReader, planRanges } from './copy-out.ts';

/** Copies a snapshot reader makes in one source transaction before it starts another one. */
export const READER_TABLES_PER_TRANSACTION = 200;

/** What exporting a snapshot returned: its identifier, LSN, and how to end it. */
export interface ExportedSnapshot {
  /** Snapshot identifier for `SET TRANSACTION SNAPSHOT`. */
  readonly snapshotName: string;
  readonly lsn: Lsn | undefined;
  /** Closes the connection holding the snapshot. */
  release(): Promise<void>;
}

/** {@link Snapshot} over an exported PostgreSQL snapshot. */
export class PostgresSnapshot implements Snapshot {
  readonly lsn: Lsn | undefined;
  private readonly params: ConnectionParams;
  private readonly exported: ExportedSnapshot;

  constructor(params: ConnectionParams, exported: ExportedSnapshot) {
    this.params = params;
    this.exported = exported;
    this.lsn = exported.lsn;
  }

  async planUnits(targets: readonly TableTarget[], o: PlanUnitsOptions): Promise<CopyUnit[]> {
    const reader = await openSnapshotReader(this.params, this.exported.snapshotName);
    try {
      const units: CopyUnit[] = [];
      // One query for every table's format: a catalog round trip per table would dominate the
      // planning of thousands of small tables.
      const formats = o.formats.includes('binary')
        ? await copyFormatsFor(
            reader,
            targets.map((t) => t.source),
            o.beforeStatement,
          )
        : targets.map(() => 'text' as const);
      const types = await columnTypesFor(reader, targets, o.beforeStatement);
      for (const [i, target] of targets.entries()) {
        const t = target.source;
        const ranges = await planRanges(reader, t, o);
        const format = formats[i] ?? 'text';
        ranges.forEach((range, rangeNo) =>
          units.push({
            table: t,
            rangeNo,
            range,
            format,
            columns: target.columns,
            where: target.where,
            target: target.table,
            columnTypes: types[i] ?? [],
          }),
        );
      }
      await reader.query('COMMIT');
      return units;
    } catch (e) {
      throw wrapPgError('COPY_FAILED', 'cannot plan the copy', e);
    } finally {
      await reader.end().catch(() => undefined);
    }
  }

  async openReader(): Promise<SnapshotReader> {
    const client: pg.Client = await openSnapshotReader(this.params, this.exported.snapshotName);
    const snapshot = this.exported.snapshotName;
    let copies = 0;
    return {
      copy: (unit) => {
        // Every READER_TABLES_PER_TRANSACTION copies, a new transaction on the same snapshot: the
        // old one's ACCESS SHARE locks (one per table copied) go, so thousands of tables never hold
        // the source's lock table at once (PostgreSQL docs, "Lock Management"). The exporting
        // transaction keeps the snapshot importable.
        if (++copies % READER_TABLES_PER_TRANSACTION === 0) {
          // The COPY starts only once the new transaction has imported the snapshot: a COPY outside
          // it would read other data than the rest of the sync.
          const out = new PassThrough();
          void (async () => {
            try {
              await client.query('COMMIT');
              await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
              await client.query(`SET TRANSACTION SNAPSHOT '${snapshot.replaceAll("'", "''")}'`);
            } catch (e) {
              out.destroy(wrapPgError('COPY_FAILED', 'cannot renew the snapshot reader', e));
              return;
            }
            const data = copyOut(client, unit);
            data.on('error', (e) => out.destroy(e));
            out.on('close', () => {
              if (!data.destroyed) data.destroy();
            });
            data.pipe(out);
          })();
          return out;
        }
        return copyOut(client, unit);
      },
      close: () => client.end().catch(() => undefined),
    };
  }

  release(): Promise<void> {
    return this.exported.release();
  }
}
