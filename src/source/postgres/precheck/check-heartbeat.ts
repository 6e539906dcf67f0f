/**
 * Precheck: the source can carry the task's heartbeat (source.heartbeat; heartbeat.ts,
 * heartbeat-catalog.ts). Without table: PostgreSQL 14+ (pgoutput sends logical decoding messages
 * from 14, option `messages`: PostgreSQL docs, "Logical Streaming Replication Parameters") and
 * EXECUTE on pg_logical_emit_message. With a table: the table exists with the right shape and the
 * user may upsert into it, or the user may create it; and it is (or can be put) in the task's
 * publication.
 */
import { displayName } from '../../../core/identifier.ts';
import { publicationNameOf, type TaskConfig } from '../../../core/task-config.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';
import { HEARTBEAT_MESSAGE_PREFIX, MESSAGES_MIN_MAJOR } from '../heartbeat.ts';
import {
  canEmitMessages,
  emitMessageGrant,
  heartbeatTableFacts,
  heartbeatTableProblem,
} from '../heartbeat-catalog.ts';
import { isIncremental } from './incremental.ts';

const hasHeartbeat = (task: TaskConfig) => isIncremental(task) && task.source.heartbeat !== undefined;

/** The heartbeat can be written and received (incremental with source.heartbeat only). */
export const heartbeatCheck: PgPrecheck = {
  id: 'heartbeat',
  title: 'Source heartbeat',
  needs: [],
  applies: hasHeartbeat,
  run: async (s, ctx) => {
    const hb = ctx.task.source.heartbeat;
    if (hb === undefined) return { status: 'pass', message: 'no heartbeat' };
    const every = `after ${hb.intervalMs} ms without changes`;
    const table = hb.table;
    if (table === undefined) {
      if (s.server.major < MESSAGES_MIN_MAJOR) {
        return {
          status: 'fail',
          message: `a heartbeat without table is a logical decoding message, which pgoutput sends from PostgreSQL ${MESSAGES_MIN_MAJOR} (option messages); the source runs ${s.server.version}`,
          fix: 'set source.heartbeat.table (e.g. public.pgdts_heartbeat): pgdts then upserts a row there',
        };
      }
      if (!s.server.isSuperuser && !(await canEmitMessages(s.client))) {
        return {
          status: 'fail',
          message: `${s.server.user} may not call pg_logical_emit_message`,
          fix: `${emitMessageGrant(s.server.user, s.server.major)};`,
        };
      }
      return {
        status: 'pass',
        message: `a logical decoding message (prefix ${HEARTBEAT_MESSAGE_PREFIX}) ${every}`,
      };
    }
    const pub = publicationNameOf(ctx.task);
    const facts = await heartbeatTableFacts(s.client, table, pub);
    const problem = heartbeatTableProblem(table, pub, s.server.user, s.server.isSuperuser, facts);
    if (problem !== undefined) return { status: 'fail', ...problem };
    return {
      status: 'pass',
      message: `${s.server.user} upserts its row into ${displayName(table)}${facts.tableExists ? '' : ' (created by pgdts)'} ${every}; it is published with the task's tables, never copied`,
    };
  },
};
