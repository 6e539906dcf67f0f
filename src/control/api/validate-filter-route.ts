/**
 * `POST /api/v1/data-sources/{id}/validate-filter`: checks a row filter (`objects[].where`) against
 * the source table it would filter, for the console's WHERE editor. The server parses, analyses and
 * plans `SELECT 1 FROM ONLY schema.table WHERE (<where>)` under EXPLAIN (never runs it), in a
 * READ ONLY transaction with a statement timeout, and answers `{valid, message}`: a condition the
 * server refuses is `valid: false` with the server's message (an unknown column, a syntax error, a
 * missing table), not an error of the call. A connection failure answers CONNECTION_FAILED.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import type pg from 'pg';
import { z } from 'zod';
import { quoteQualified } from '../../core/identifier.ts';
import { connect } from '../../pg/connection.ts';
import { connectionParamsOf } from '../data-source/connection-params-of.ts';
import { dataSourceId } from '../data-source/data-source-schema.ts';
import type { ControlStore } from '../store/control-store.ts';
import { postgresqlDataSourceById } from './postgresql-data-source-by-id.ts';
import { API_ERRORS } from './api-error.ts';

/** How long the server may take to plan the check, ms (a catalog lock held elsewhere waits no longer). */
export const VALIDATE_FILTER_TIMEOUT_MS = 5000;

/** Is every block comment opened by `/*` closed, in order (PostgreSQL's block comments nest)? */
function commentsBalanced(where: string): boolean {
  let depth = 0;
  for (let i = 0; i < where.length - 1; i++) {
    const two = where.slice(i, i + 2);
    if (two === '/*') {
      depth++;
      i++;
    } else if (two === '*/') {
      if (depth === 0) return false;
      depth--;
      i++;
    }
  }
  return depth === 0;
}

const identifier = z
  .string({ error: 'must be a string' })
  .min(1, { error: 'must be 1-63 characters' })
  .max(63, { error: 'must be 1-63 characters' });

/** The body of `POST .../validate-filter`: the table as the catalog names it (case kept, unquoted). */
export const validateFilterBodySchema = z
  .strictObject({
    schema: identifier.meta({ description: 'schema name as in the catalog (not quoted)' }),
    table: identifier.meta({ description: 'table name as in the catalog (not quoted)' }),
    where: z
      .string({ error: 'must be a string' })
      .min(1, { error: 'must not be empty' })
      .max(8192, { error: 'must be at most 8192 characters' })
      // The condition is sent through the extended query protocol, whose Parse message refuses a
      // second statement, and runs in a READ ONLY transaction that is rolled back: text that ends
      // the condition and starts another statement cannot run. These two rules are a precaution on
      // top (and keep the message clear): a `;` has no place in a condition (a literal needing one
      // can write chr(59)), and an unclosed `/*` would comment out the closing parenthesis and
      // whatever the server appends, a stray `*/` means the text was cut from something larger.
      .refine((w) => !w.includes(';'), { error: 'must not contain ; (one condition, not statements)' })
      .refine(commentsBalanced, { error: 'must close every /* comment with */' })
      .meta({ description: 'SQL condition on the source columns, as objects[].where' }),
  })
  .meta({ id: 'ValidateFilterRequest' });

/** `POST .../validate-filter` answers. */
export const validateFilterResultSchema = z
  .object({
    valid: z.boolean(),
    /** The server's reason when not valid; null when valid. */
    message: z.string().nullable(),
  })
  .meta({ id: 'ValidateFilterResult' });

/** The answer of `POST /api/v1/data-sources/{id}/validate-filter`. */
export type ValidateFilterResult = z.output<typeof validateFilterResultSchema>;

/**
 * Plans `where` on `schema.table` with `client` and answers whether the server accepts it.
 * @throws whatever the connection throws outside the checked statement (BEGIN, SET).
 */
export async function validateFilter(
  client: pg.Client,
  q: { schema: string; name: string },
  where: string,
): Promise<ValidateFilterResult> {
  // READ ONLY: a volatile function in the condition can write nothing even if the planner ran it.
  await client.query('BEGIN READ ONLY');
  try {
    await client.query(`SET LOCAL statement_timeout = ${VALIDATE_FILTER_TIMEOUT_MS}`);
    try {
      // Newlines around the condition: a trailing `--` comment cannot swallow the parenthesis.
      await client.query({
        text: `EXPLAIN SELECT 1 FROM ONLY ${quoteQualified(q)} WHERE (\n${where}\n)`,
        queryMode: 'extended',
      } as pg.QueryConfig);
      return { valid: true, message: null };
    } catch (e) {
      return { valid: false, message: e instanceof Error ? e.message : String(e) };
    }
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}

/** Registers `POST /api/v1/data-sources/{id}/validate-filter` on `app`. */
export function registerValidateFilterRoute(app: FastifyInstance, store: ControlStore): void {
  app.withTypeProvider<ZodTypeProvider>().post(
    '/api/v1/data-sources/:id/validate-filter',
    {
      schema: {
        params: z.strictObject({ id: dataSourceId }),
        body: validateFilterBodySchema,
        response: { 200: validateFilterResultSchema, ...API_ERRORS },
      },
    },
    async (req) => {
      const source = await postgresqlDataSourceById(store, req.params.id, 'it has no tables to filter');
      const client = await connect(connectionParamsOf(source), { role: 'source' });
      try {
        return await validateFilter(
          client,
          { schema: req.body.schema, name: req.body.table },
          req.body.where,
        );
      } finally {
        await client.end().catch(() => undefined);
      }
    },
  );
}
