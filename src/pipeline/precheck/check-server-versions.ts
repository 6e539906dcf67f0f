/**
 * Prechecks: supported server versions. pgdts relies on PostgreSQL 13+ on both sides
 * (`publish_via_partition_root` and `pg_partition_tree`/`pg_partition_ancestors` on the source,
 * PostgreSQL docs "CREATE PUBLICATION"; the same minimum keeps the destination's DDL dialect known).
 */
import { needed, type Precheck } from './precheck-result.ts';

/** Oldest supported major version, on either side. */
export const MIN_MAJOR_VERSION = 13;

/** Source server is PostgreSQL 13 or later. */
export const sourceVersionCheck: Precheck = {
  id: 'source-version',
  title: 'Source server version',
  needs: ['source'],
  run: (ctx) => {
    const s = needed(ctx.source, 'source');
    return Promise.resolve(
      s.major >= MIN_MAJOR_VERSION
        ? { status: 'pass', message: `PostgreSQL ${s.version}` }
        : {
            status: 'fail',
            message: `PostgreSQL ${s.version} is not supported (needs ${MIN_MAJOR_VERSION} or later)`,
            fix: `upgrade the source to PostgreSQL ${MIN_MAJOR_VERSION}+`,
          },
    );
  },
};

/** Destination server is PostgreSQL 13 or later; warns when it is older than the source. */
export const destinationVersionCheck: Precheck = {
  id: 'destination-version',
  title: 'Destination server version',
  needs: ['destination'],
  run: (ctx) => {
    const d = needed(ctx.destination, 'destination');
    if (d.major < MIN_MAJOR_VERSION) {
      return Promise.resolve({
        status: 'fail',
        message: `PostgreSQL ${d.version} is not supported (needs ${MIN_MAJOR_VERSION} or later)`,
        fix: `upgrade the destination to PostgreSQL ${MIN_MAJOR_VERSION}+`,
      });
    }
    const s = ctx.source;
    if (s !== undefined && d.major < s.major) {
      return Promise.resolve({
        status: 'warn',
        message: `destination PostgreSQL ${d.version} is older than source PostgreSQL ${s.version}: DDL and types new in ${s.major} may not apply`,
        fix: `use a destination running PostgreSQL ${s.major} or later`,
      });
    }
    return Promise.resolve({ status: 'pass', message: `PostgreSQL ${d.version}` });
  },
};
