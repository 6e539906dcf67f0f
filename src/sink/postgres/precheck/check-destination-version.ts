/**
 * Precheck: the destination runs a supported PostgreSQL, not older than the source (DDL and types new
 * in the source's version may not apply). The minimum is the source's (13).
 */
import type { PgPrecheck } from '../../../pg/precheck-side.ts';

/** Oldest supported destination major version. */
const MIN_MAJOR_VERSION = 13;

/** Destination server is PostgreSQL 13 or later; warns when it is older than the source. */
export const destinationVersionCheck: PgPrecheck = {
  id: 'destination-version',
  title: 'Destination server version',
  needs: [],
  run: (d, ctx) => {
    if (d.server.major < MIN_MAJOR_VERSION) {
      return Promise.resolve({
        status: 'fail',
        message: `PostgreSQL ${d.server.version} is not supported (needs ${MIN_MAJOR_VERSION} or later)`,
        fix: `upgrade the destination to PostgreSQL ${MIN_MAJOR_VERSION}+`,
      });
    }
    const s = ctx.source;
    if (s !== undefined && d.server.major < s.major) {
      return Promise.resolve({
        status: 'warn',
        message: `destination PostgreSQL ${d.server.version} is older than source PostgreSQL ${s.version}: DDL and types new in ${s.major} may not apply`,
        fix: `use a destination running PostgreSQL ${s.major} or later`,
      });
    }
    return Promise.resolve({ status: 'pass', message: `PostgreSQL ${d.server.version}` });
  },
};
