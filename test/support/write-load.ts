/**
 * A write workload for tests that sync under load: one short transaction per round over `tables`
 * (each `id` identity key and `v text`): 5 inserts, an update of about 1/`updateModulo` of the
 * rows, `deletes` random deletes, then a pause of `pauseMs`. A round rolled back by a deadlock
 * (SQLSTATE 40P01) is not counted and the workload goes on.
 */
import pg from 'pg';
import type { TestServer } from './servers.ts';

/** A running write workload. */
export interface WriteLoad {
  /** Transactions committed so far. */
  readonly commits: () => number;
  /** Stops it; resolves with the commits made once its last transaction ended, rejects with its error. */
  stop(): Promise<number>;
}

/** Starts the workload on `db` of `s` (see the module comment). */
export function startWriteLoad(
  s: TestServer,
  db: string,
  tables: readonly string[],
  o: { readonly updateModulo: number; readonly deletes: number; readonly pauseMs: number },
): WriteLoad {
  let stopping = false;
  let commits = 0;
  const run = (async () => {
    const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
    await c.connect();
    try {
      for (let i = 0; !stopping; i++) {
        try {
          await c.query('BEGIN');
          for (const t of tables) {
            await c.query(
              `INSERT INTO ${t} (v) SELECT 'w' || $1::int || '.' || g FROM generate_series(1, 5) g`,
              [i],
            );
            await c.query(`UPDATE ${t} SET v = v || '+' WHERE id % ${o.updateModulo} = $1`, [
              i % o.updateModulo,
            ]);
            await c.query(
              `DELETE FROM ${t} WHERE id IN (SELECT id FROM ${t} ORDER BY random() LIMIT ${o.deletes})`,
            );
          }
          await c.query('COMMIT');
          commits++;
        } catch (e) {
          // A statement run beside the workload (sqlUnderLoad) can deadlock with its random-order
          // deletes; PostgreSQL then rolls back one of the two whole, and either may be chosen.
          // The round left nothing behind, so it is simply not counted, as an application retries.
          if ((e as { code?: unknown }).code !== '40P01') throw e;
          await c.query('ROLLBACK');
        }
        await new Promise((res) => setTimeout(res, o.pauseMs));
      }
    } finally {
      await c.end();
    }
  })();
  return {
    commits: () => commits,
    stop: async () => {
      stopping = true;
      await run;
      return commits;
    },
  };
}

/**
 * Runs `text` on `db` of `s` beside a running workload, again after a deadlock (SQLSTATE 40P01), as
 * an application would: a statement updating many rows locks them in scan order while the workload
 * deletes rows in random order, so the two can deadlock, and PostgreSQL then rolls back one of them
 * whole. Other errors are thrown.
 */
export async function sqlUnderLoad(s: TestServer, db: string, text: string): Promise<void> {
  for (let attempt = 1; ; attempt++) {
    const c = new pg.Client({ host: s.host, port: s.port, user: s.user, password: s.password, database: db });
    await c.connect();
    try {
      await c.query(text);
      return;
    } catch (e) {
      if ((e as { code?: unknown }).code !== '40P01' || attempt >= 5) throw e;
    } finally {
      await c.end();
    }
  }
}
