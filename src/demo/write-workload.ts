/**
 * A live write workload on the sample database (`createSampleDatabase` in sample-database.ts): a steady stream of small
 * transactions (new orders with items and payments, customer updates, updates of the TOASTed product
 * description and updates that leave it untouched, order deletes, audit events, page views) plus,
 * periodically, one big transaction, so that incremental sync meets every kind of change while it runs.
 *
 * The keyless `audit.page_views` only receives inserts: updating or deleting it would fail on a source
 * that publishes updates without REPLICA IDENTITY FULL (PostgreSQL docs, "Logical Replication —
 * Publication").
 */
import type pg from 'pg';

/** Options of {@link startWriteWorkload}. */
export interface WriteWorkloadOptions {
  /** Small transactions per second (target; fewer when the server is slower); default 50. */
  readonly ratePerSec?: number;
  /** Period of the big transaction in ms; default 10,000. 0 disables it. */
  readonly bigTransactionEveryMs?: number;
  /** Rows of the big transaction; default 50,000. */
  readonly bigTransactionRows?: number;
  /** Seed of the deterministic choice of operations; default 1. */
  readonly seed?: number;
  /** Aborting stops the workload like {@link WriteWorkload.stop}. */
  readonly signal?: AbortSignal;
  /** Called with an error that stopped the workload (the workload stops on the first error). */
  readonly onError?: (e: unknown) => void;
}

/** Totals of a workload run: committed transactions and rows they changed (inserted + updated + deleted). */
export interface WriteWorkloadStats {
  readonly transactions: number;
  readonly rows: number;
}

/** A running workload. */
export interface WriteWorkload {
  /** Stops after the transaction in flight commits, closes the connection and returns the totals. */
  stop(): Promise<WriteWorkloadStats>;
  /** Totals so far. */
  stats(): WriteWorkloadStats;
}

/** Deterministic PRNG (mulberry32) so that two runs with one seed make the same choices. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

type Op =
  | 'new-order'
  | 'update-customer'
  | 'update-description'
  | 'update-stock'
  | 'update-order-status'
  | 'delete-order'
  | 'audit-event'
  | 'page-view';

/** Relative weights of the small transactions. */
const WEIGHTS: readonly (readonly [Op, number])[] = [
  ['new-order', 30],
  ['update-customer', 10],
  ['update-description', 5],
  ['update-stock', 15],
  ['update-order-status', 15],
  ['delete-order', 5],
  ['audit-event', 10],
  ['page-view', 10],
];

function pick(r: number): Op {
  const total = WEIGHTS.reduce((a, [, w]) => a + w, 0);
  let x = r * total;
  for (const [op, w] of WEIGHTS) {
    if (x < w) return op;
    x -= w;
  }
  return 'new-order';
}

/** Runs one small transaction of kind `op`; returns the rows it changed. */
async function runSmall(c: pg.Client, op: Op, r: () => number): Promise<number> {
  // Ids are picked below the current maximum so they usually exist; a miss changes 0 rows, which is fine.
  const rowsOf = (res: pg.QueryResult) => res.rowCount ?? 0;
  switch (op) {
    case 'new-order': {
      await c.query('BEGIN');
      const o = await c.query<{ id: string }>(
        `INSERT INTO shop.orders (customer_id, status, ordered_at)
         SELECT id, 'new', now() FROM shop.customers
         WHERE id >= (SELECT max(id) FROM shop.customers) * $1::float8 ORDER BY id LIMIT 1 RETURNING id`,
        [r()],
      );
      const id = o.rows[0]?.id;
      let n = rowsOf(o);
      if (id !== undefined) {
        n += rowsOf(
          await c.query(
            `INSERT INTO shop.order_items (order_id, line_no, product_id, quantity, unit_price)
             SELECT $1::bigint, l, p.id, l, p.price FROM generate_series(1, 3) l
             JOIN LATERAL (SELECT id, price FROM shop.products
                           WHERE id >= (SELECT max(id) FROM shop.products) * $2::float8 / l
                           ORDER BY id LIMIT 1) p ON true`,
            [id, r()],
          ),
        );
        n += rowsOf(
          await c.query(
            `INSERT INTO billing.payments (order_id, amount, method, paid_at)
             VALUES ($1, billing.order_total($1), 'card', now())`,
            [id],
          ),
        );
        n += rowsOf(await c.query(`UPDATE shop.orders SET status = 'paid' WHERE id = $1`, [id]));
      }
      await c.query('COMMIT');
      return n;
    }
    case 'update-customer':
      return rowsOf(
        await c.query(
          `UPDATE shop.customers SET full_name = full_name || '.'
           WHERE id = 1 + floor($1::float8 * (SELECT max(id) FROM shop.customers))::bigint`,
          [r()],
        ),
      );
    case 'update-description':
      // Rewrites the TOASTed value itself: a new out-of-line value goes into the WAL.
      return rowsOf(
        await c.query(
          `UPDATE shop.products SET description = (SELECT string_agg(md5(id || '-' || k || '-' || $2), '')
                                                   FROM generate_series(1, 300) k)
           WHERE id = 10 * (1 + floor($1::float8 * (SELECT max(id) FROM shop.products) / 10))::int`,
          [r(), Math.floor(r() * 1e9)],
        ),
      );
    case 'update-stock':
      // Leaves `description` untouched: pgoutput sends an unchanged-TOAST marker for it.
      return rowsOf(
        await c.query(
          `UPDATE shop.products SET stock = stock + 1
           WHERE id = 10 * (1 + floor($1::float8 * (SELECT max(id) FROM shop.products) / 10))::int`,
          [r()],
        ),
      );
    case 'update-order-status':
      return rowsOf(
        await c.query(
          `UPDATE shop.orders SET status = 'shipped'
           WHERE id = 1 + floor($1::float8 * (SELECT max(id) FROM shop.orders))::bigint`,
          [r()],
        ),
      );
    case 'delete-order':
      // Items and payments go with it (ON DELETE CASCADE).
      return rowsOf(
        await c.query(
          `DELETE FROM shop.orders WHERE id = 1 + floor($1::float8 * (SELECT max(id) FROM shop.orders))::bigint`,
          [r()],
        ),
      );
    case 'audit-event':
      return rowsOf(
        await c.query(
          `INSERT INTO audit.events (occurred_at, kind, payload)
           VALUES (timestamptz '2024-01-01 00:00:00+00' + $1::float8 * interval '365 days', 'search',
                   jsonb_build_object('q', md5($1::text)))`,
          [r()],
        ),
      );
    case 'page-view':
      return rowsOf(
        await c.query(
          `INSERT INTO audit.page_views (viewed_at, path) VALUES (now(), '/search?q=' || $1::text)`,
          [Math.floor(r() * 1e6)],
        ),
      );
  }
}

/** One big transaction, alternately inserting `rows` audit events and updating up to `rows` orders. */
async function runBig(c: pg.Client, rows: number, nth: number): Promise<number> {
  if (nth % 2 === 0) {
    const res = await c.query(
      `INSERT INTO audit.events (occurred_at, kind, payload)
       SELECT timestamptz '2024-01-01 00:00:00+00' + (i % 31536000) * interval '1 second', 'batch',
              jsonb_build_object('batch', $2::int, 'i', i)
       FROM generate_series(1, $1::int) i`,
      [rows, nth],
    );
    return res.rowCount ?? 0;
  }
  const res = await c.query(
    `UPDATE shop.orders SET note = 'batch ' || $2::int
     WHERE id IN (SELECT id FROM shop.orders ORDER BY id LIMIT $1::int)`,
    [rows, nth],
  );
  return res.rowCount ?? 0;
}

/**
 * Starts the workload on a connection from `connect` (to a database made by
 * `createSampleDatabase`) and returns at once; transactions run in the background, one at a time,
 * paced to `ratePerSec`. The first error stops the workload (reported to `onError` and rethrown by
 * `stop()`).
 * @throws {Error} from `stop()`: the error that stopped the workload, if any.
 */
export function startWriteWorkload(
  connect: () => Promise<pg.Client>,
  options: WriteWorkloadOptions = {},
): WriteWorkload {
  const rate = Math.max(0.1, options.ratePerSec ?? 50);
  const bigEvery = options.bigTransactionEveryMs ?? 10_000;
  const bigRows = options.bigTransactionRows ?? 50_000;
  const random = prng(options.seed ?? 1);
  let transactions = 0;
  let rows = 0;
  let stopping = false;
  let wake: (() => void) | undefined;
  const requestStop = () => {
    stopping = true;
    wake?.();
  };
  options.signal?.addEventListener('abort', requestStop, { once: true });
  if (options.signal?.aborted) stopping = true;

  const sleep = (ms: number) =>
    new Promise<void>((resolve) => {
      const t = setTimeout(done, ms);
      function done() {
        clearTimeout(t);
        wake = undefined;
        resolve();
      }
      wake = done;
    });

  const loop = (async () => {
    const c = await connect();
    try {
      const started = performance.now();
      let nextBig = bigEvery > 0 ? started + bigEvery : Infinity;
      let bigCount = 0;
      let i = 0;
      while (!stopping) {
        const now = performance.now();
        if (now >= nextBig) {
          await c.query('BEGIN');
          const n = await runBig(c, bigRows, bigCount++);
          await c.query('COMMIT');
          rows += n;
          transactions++;
          nextBig = performance.now() + bigEvery;
          continue;
        }
        const n = await runSmall(c, pick(random()), random);
        rows += n;
        transactions++;
        i++;
        const due = started + (i * 1000) / rate;
        const wait = due - performance.now();
        if (wait > 0 && !stopping) await sleep(wait);
      }
    } catch (e) {
      await c.query('ROLLBACK').catch(() => undefined);
      options.onError?.(e);
      throw e;
    } finally {
      options.signal?.removeEventListener('abort', requestStop);
      await c.end().catch(() => undefined);
    }
  })();
  // stop() reports the error; this keeps an unobserved rejection from crashing the process meanwhile.
  loop.catch(() => undefined);

  return {
    async stop() {
      requestStop();
      await loop;
      return { transactions, rows };
    },
    stats: () => ({ transactions, rows }),
  };
}
