/**
 * Precheck (informational): how pgoutput delivers large transactions on this source. PostgreSQL 14+
 * can stream in-progress transactions (pgoutput protocol version 2, option `streaming`); 13 decodes
 * them to disk on the source (spilling beyond `logical_decoding_work_mem`) and sends them at commit
 * (PostgreSQL docs, "Logical Streaming Replication Parameters" and "Logical Decoding" > "Streaming of
 * Large Transactions").
 */
import { isIncremental } from './incremental.ts';
import type { PgPrecheck } from '../../../pg/precheck-side.ts';

/** Notes pgoutput's streaming support; always passes (incremental only). */
export const pgoutputStreamingCheck: PgPrecheck = {
  id: 'pgoutput-streaming',
  title: 'Source pgoutput streaming of large transactions',
  needs: [],
  applies: isIncremental,
  run: async (s) => {
    const r = await s.client.query<{ mem: string }>(
      "SELECT current_setting('logical_decoding_work_mem') AS mem",
    );
    const mem = r.rows[0]?.mem ?? 'unknown';
    return {
      status: 'pass',
      message:
        s.server.major >= 14
          ? `PostgreSQL ${s.server.major} streams in-progress transactions (pgoutput protocol 2) beyond logical_decoding_work_mem = ${mem}`
          : `PostgreSQL ${s.server.major} has no in-progress streaming: transactions larger than logical_decoding_work_mem = ${mem} spill to disk on the source and are sent at commit`,
    };
  },
};
