/**
 * `GET /api/v1/data-sources/{id}/tables`: the schemas and tables a data source offers as a task's
 * source, read from its catalog through the same connection code the source connector uses
 * (pg/connection.ts with the data source's parameters), for the console's object picker. Tables are
 * the ones a task can select (ordinary and partitioned tables, not partitions; system schemas left
 * out); with a data source `schema`, only that schema's. A connection failure answers its
 * CONNECTION_FAILED error with host, port and cause.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import { connect } from '../../pg/connection.ts';
import { connectionParamsOf } from '../data-source/connection-params-of.ts';
import { dataSourceId } from '../data-source/data-source-schema.ts';
import type { ControlStore } from '../store/control-store.ts';
import { apiErrorSchema } from './api-error.ts';
import { postgresqlDataSourceById } from './postgresql-data-source-by-id.ts';

const sourceTableSchema = z.object({
  schema: z.string(),
  table: z.string(),
  /** `r` ordinary, `p` partitioned. */
  kind: z.enum(['table', 'partitioned']),
  /** The planner's estimate (pg_class.reltuples; -1 before the first ANALYZE is answered as null). */
  estimatedRows: z.number().nullable(),
  hasPrimaryKey: z.boolean(),
  /** pg_class.relreplident: default, nothing, full, index. */
  replicaIdentity: z.enum(['default', 'nothing', 'full', 'index']),
});

/** `GET /api/v1/data-sources/{id}/tables`. */
export const sourceObjectsSchema = z
  .object({
    dataSource: z.string(),
    schemas: z.array(z.string()),
    tables: z.array(sourceTableSchema),
  })
  .meta({ id: 'SourceObjects' });

/** The answer of `GET /api/v1/data-sources/{id}/tables`. */
export type SourceObjects = z.output<typeof sourceObjectsSchema>;

const RI = { d: 'default', n: 'nothing', f: 'full', i: 'index' } as const;

/** Registers `GET /api/v1/data-sources/{id}/tables` on `app`. */
export function registerSourceObjectsRoute(app: FastifyInstance, store: ControlStore): void {
  app.withTypeProvider<ZodTypeProvider>().get(
    '/api/v1/data-sources/:id/tables',
    {
      schema: {
        params: z.strictObject({ id: dataSourceId }),
        response: { 200: sourceObjectsSchema, 400: apiErrorSchema, 401: apiErrorSchema, 404: apiErrorSchema },
      },
    },
    async (req) => {
      const source = await postgresqlDataSourceById(store, req.params.id, 'it offers no tables');
      const client = await connect(connectionParamsOf(source), { role: 'source' });
      try {
        const schemas = await client.query<{ nspname: string }>(
          `SELECT nspname FROM pg_namespace
            WHERE nspname NOT IN ('pg_catalog', 'information_schema') AND nspname NOT LIKE 'pg\\_%'
              AND ($1::text IS NULL OR nspname = $1)
            ORDER BY nspname`,
          [source.schema],
        );
        const tables = await client.query<{
          nspname: string;
          relname: string;
          relkind: 'r' | 'p';
          reltuples: string;
          pk: boolean;
          relreplident: keyof typeof RI;
        }>(
          `SELECT n.nspname, c.relname, c.relkind, c.reltuples::text,
                  EXISTS (SELECT 1 FROM pg_index i WHERE i.indrelid = c.oid AND i.indisprimary) AS pk,
                  c.relreplident
             FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
            WHERE c.relkind IN ('r', 'p') AND NOT c.relispartition
              AND n.nspname NOT IN ('pg_catalog', 'information_schema') AND n.nspname NOT LIKE 'pg\\_%'
              AND ($1::text IS NULL OR n.nspname = $1)
            ORDER BY n.nspname, c.relname`,
          [source.schema],
        );
        return {
          dataSource: source.id,
          schemas: schemas.rows.map((r) => r.nspname),
          tables: tables.rows.map((r) => {
            const estimate = Number(r.reltuples);
            return {
              schema: r.nspname,
              table: r.relname,
              kind: r.relkind === 'p' ? ('partitioned' as const) : ('table' as const),
              estimatedRows: estimate < 0 ? null : estimate,
              hasPrimaryKey: r.pk,
              replicaIdentity: RI[r.relreplident],
            };
          }),
        };
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  );
}
