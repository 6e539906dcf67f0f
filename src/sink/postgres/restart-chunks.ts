/**
 * Splits the tables a full sync restarts into chunks, each reset in its own destination transaction,
 * so that thousands of tables never need one transaction holding a lock on each of them and its
 * indexes: TRUNCATE takes ACCESS EXCLUSIVE on every table, its indexes and TOAST table, and the
 * shared lock table holds only `max_locks_per_transaction × (max_connections +
 * max_prepared_transactions)` of them (PostgreSQL docs, "Lock Management"); 10,000 small tables need
 * about 50,000. Pure, sans I/O.
 *
 * What must stay in one chunk (one TRUNCATE, one transaction):
 * - tables linked by a foreign key on the destination: TRUNCATE of a referenced table fails unless
 *   the referencing one is in the same statement (pgdts never uses CASCADE);
 * - source tables merged into one destination table (`mergeInto`): emptying it resets them all, in
 *   the transaction that resets their progress (task invariant T2).
 */
import { displayName, type QualifiedName } from '../../core/identifier.ts';
import type { TableRestart } from '../../core/sink.ts';

/**
 * Most tables per chunk (a group that must stay together may exceed it): 200 tables with an index
 * or two and a TOAST table take about 1,000 locks, a sixth of the default lock table
 * (64 × about 120 backends).
 */
export const RESTART_CHUNK_TABLES = 200;

/**
 * Groups `tables` into chunks of at most `maxTables` destination tables, keeping each group that
 * must stay together (foreign key `links` between destination tables, shared destination tables)
 * whole, in the order the tables came.
 * @param links destination table pairs linked by a foreign key (either direction).
 */
export function restartChunks(
  tables: readonly TableRestart[],
  links: readonly (readonly [QualifiedName, QualifiedName])[],
  maxTables = RESTART_CHUNK_TABLES,
): TableRestart[][] {
  const parent = new Map<string, string>();
  const find = (k: string): string => {
    let r = k;
    for (let p = parent.get(r); p !== undefined && p !== r; p = parent.get(r)) r = p;
    // Path compression keeps later finds short.
    for (let c = k; c !== r;) {
      const next = parent.get(c) ?? r;
      parent.set(c, r);
      c = next;
    }
    return r;
  };
  const union = (a: string, b: string) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent.set(ra, rb);
  };
  for (const t of tables) {
    const k = displayName(t.target);
    if (!parent.has(k)) parent.set(k, k);
  }
  for (const [a, b] of links) {
    const ka = displayName(a);
    const kb = displayName(b);
    if (parent.has(ka) && parent.has(kb)) union(ka, kb);
  }
  const groups = new Map<string, TableRestart[]>();
  for (const t of tables) {
    const root = find(displayName(t.target));
    const g = groups.get(root);
    if (g) g.push(t);
    else groups.set(root, [t]);
  }
  const chunks: TableRestart[][] = [];
  let current: TableRestart[] = [];
  let currentTargets = 0;
  const targetsOf = (g: readonly TableRestart[]) => new Set(g.map((t) => displayName(t.target))).size;
  for (const g of groups.values()) {
    const n = targetsOf(g);
    if (current.length > 0 && currentTargets + n > maxTables) {
      chunks.push(current);
      current = [];
      currentTargets = 0;
    }
    current.push(...g);
    currentTargets += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}
