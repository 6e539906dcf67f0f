/**
 * Prechecks: supported server versions. pgdts relies on PostgreSQL 13+ on both sides
 * (`publish_via_partition_root` and `pg_partition_tree`/`pg_partition_ancestors` on the source,
 * PostgreSQL docs "CREATE PUBLICATION"; the same minimum keeps the destination's DDL dialect known).
 */
import type { PgPrecheck } from '../../../pg/precheck-side.ts';

/** Oldest supported major version, on either side. */
export const MIN_MAJOR_VERSION = 13;

/** Source server is PostgreSQL 13 or later. */
export const sourceVersionCheck: PgPrecheck = {
  id: 'source-version',
  title: 'Source server version',
  needs: [],
  run: (s) =>
    Promise.resolve(
      s.server.major >= MIN_MAJOR_VERSION
        ? { status: 'pass', message: `PostgreSQL ${s.server.version}` }
        : {
            status: 'fail',
            message: `PostgreSQL ${s.server.version} is not supported (needs ${MIN_MAJOR_VERSION} or later)`,
            fix: `upgrade the source to PostgreSQL ${MIN_MAJOR_VERSION}+`,
          },
    ),
};
