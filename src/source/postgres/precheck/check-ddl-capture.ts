/**
 * Precheck: the task's DDL capture (ddl-capture.ts) can be installed: PostgreSQL 14+ (pgoutput
 * sends logical decoding messages from 14; PostgreSQL docs, "Logical Streaming Replication
 * Parameters", messages) and a superuser (docs, "CREATE EVENT TRIGGER"). Otherwise a warning: the
 * task runs, and schema changes follow the Relation-message fallback.
 */
import { ddlSchemasOf } from '../../../core/ddl.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';
import { ddlCaptureUnavailable } from '../ddl-capture.ts';
import { isIncremental } from './incremental.ts';

/** DDL capture during incremental sync (objects with `ddl` in their operations). */
export const ddlCaptureCheck: PgPrecheck = {
  id: 'ddl-capture',
  title: 'DDL capture (event trigger)',
  needs: [],
  applies: (task) => isIncremental(task) && ddlSchemasOf(task).length > 0,
  run: (s, ctx) => {
    const schemas = ddlSchemasOf(ctx.task);
    const reason = ddlCaptureUnavailable(s.server.major, s.server.version, s.server.isSuperuser);
    if (reason !== undefined) {
      return Promise.resolve({
        status: 'warn',
        message: reason,
        fix: s.server.isSuperuser
          ? 'upgrade the source to PostgreSQL 14 or later to follow DDL as it happens'
          : 'run the task as a superuser on the source to follow DDL, or leave ddl out of objects[].operations',
      });
    }
    return Promise.resolve({
      status: 'pass',
      message: `an event trigger of the task captures DDL on schema(s) ${schemas.join(', ')}`,
    });
  },
};
