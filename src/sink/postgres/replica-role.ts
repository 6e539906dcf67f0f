/**
 * Whether a destination session may set `session_replication_role = replica`, under which triggers
 * and foreign key checks (which are triggers) do not fire: superuser, or from PostgreSQL 15 the SET
 * privilege on the parameter (PostgreSQL docs, "Client Connection Defaults", "GRANT").
 */
import type pg from 'pg';

/**
 * Tries it in a transaction that is rolled back: 42501 (insufficient privilege) means no. Tried,
 * not inferred from the role's attributes, so a grant through role membership counts too.
 */
export async function mayUseReplicaRole(client: pg.Client): Promise<boolean> {
  try {
    await client.query('BEGIN; SET LOCAL session_replication_role = replica');
    return true;
  } catch (e) {
    if ((e as { code?: unknown }).code === '42501') return false;
    throw e;
  } finally {
    await client.query('ROLLBACK').catch(() => undefined);
  }
}
