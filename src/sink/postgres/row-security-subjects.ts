/**
 * Whether row-level security policies would apply to the destination user's writes (PostgreSQL
 * docs, "Row Security Policies", "row_security"). Copy and apply sessions run with
 * `row_security = off`, so such a write fails instead of silently missing rows. Policies apply to a
 * table's owner only with FORCE ROW LEVEL SECURITY, and never to superusers or roles with BYPASSRLS.
 *
 * - Existing destination tables of the selection with row-level security enabled that are forced, or
 *   owned by another role: the copy and the apply would fail.
 * - With schema sync and incremental sync, source tables with ENABLE + FORCE: schema sync creates
 *   them so (after the copy), and the apply would fail.
 */
import type pg from 'pg';
import { displayName } from '../../core/identifier.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import { hasSyncType, type TaskConfig } from '../../core/task-config.ts';

/** What {@link rowSecuritySubjects} found. */
export type RowSecuritySubjects =
  /** The user is a superuser or has BYPASSRLS. */
  | { readonly kind: 'bypasses'; readonly why: 'superuser' | 'BYPASSRLS' }
  /** Destination tables (display names, sorted) whose policies would apply; empty: none. */
  | { readonly kind: 'subject'; readonly tables: readonly string[] };

/**
 * Reads, through `client` (connected as the destination user), which destination tables of
 * `targets` would apply row-level security to that user's writes.
 */
export async function rowSecuritySubjects(
  client: pg.Client,
  task: TaskConfig,
  targets: readonly TableTarget[],
): Promise<RowSecuritySubjects> {
  const r = await client.query<{ su: boolean; bypass: boolean }>(
    'SELECT rolsuper AS su, rolbypassrls AS bypass FROM pg_catalog.pg_roles WHERE rolname = current_user',
  );
  if (r.rows[0]?.su === true) return { kind: 'bypasses', why: 'superuser' };
  if (r.rows[0]?.bypass === true) return { kind: 'bypasses', why: 'BYPASSRLS' };
  const subject = await client.query<{ schema: string; name: string }>(
    `SELECT s.schema, s.name FROM unnest($1::text[], $2::text[]) AS s(schema, name)
       JOIN pg_catalog.pg_namespace n ON n.nspname = s.schema
       JOIN pg_catalog.pg_class c ON c.relnamespace = n.oid AND c.relname = s.name
      WHERE c.relrowsecurity AND (c.relforcerowsecurity OR NOT pg_catalog.pg_has_role(c.relowner, 'USAGE'))`,
    [targets.map((t) => t.table.schema), targets.map((t) => t.table.name)],
  );
  const names = new Set(subject.rows.map((x) => `${x.schema}.${x.name}`));
  if (hasSyncType(task, 'schema') && hasSyncType(task, 'incremental')) {
    for (const t of targets) if (t.source.forcedRowSecurity === true) names.add(displayName(t.table));
  }
  return { kind: 'subject', tables: [...names].sort() };
}
