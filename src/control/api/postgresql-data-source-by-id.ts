/** The lookup of routes that read a data source's catalog (its tables, a row filter's plan). */
import { PgdtsError } from '../../core/errors.ts';
import type { PostgresqlDataSource } from '../data-source/data-source-schema.ts';
import type { ControlStore } from '../store/control-store.ts';

/**
 * The stored postgresql data source `id`.
 * @param needs what the route does with it, for the refusal of another type ("offers no tables").
 * @throws {PgdtsError} NOT_FOUND when there is none; CONFIG_INVALID when it is not postgresql (a
 *   kafka data source has no catalog to read).
 */
export async function postgresqlDataSourceById(
  store: ControlStore,
  id: string,
  needs: string,
): Promise<PostgresqlDataSource> {
  const s = await store.getDataSource(id);
  if (s === undefined) {
    throw new PgdtsError('NOT_FOUND', `no data source ${id}`, {
      hint: 'GET /api/v1/data-sources lists them',
    });
  }
  const source = s.source;
  if (source.type !== 'postgresql') {
    throw new PgdtsError('CONFIG_INVALID', `data source ${source.id} is ${source.type}: ${needs}`, {
      hint: 'use a postgresql data source',
    });
  }
  return source;
}
