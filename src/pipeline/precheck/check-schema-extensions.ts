/**
 * Precheck of schema sync: the destination can have every extension the selected objects use.
 * Schema sync creates a missing extension (`CREATE EXTENSION IF NOT EXISTS`) and skips one the
 * destination server has no files for; an object using a skipped extension's types or routines then
 * fails the run at its CREATE. This check tells before the run. PostgreSQL docs, "CREATE EXTENSION",
 * "pg_available_extensions".
 */
import { quoteIdent } from '../../core/identifier.ts';
import { listShort, type PrecheckResult } from '../../core/precheck.ts';
import type { ExtensionDef } from '../../core/schema-model.ts';
import type { ExtensionAvailability, Sink } from '../../core/sink.ts';
import type { SchemaModel } from '../../core/schema-model.ts';
import { hasSyncType, type TaskConfig } from '../../core/task-config.ts';

/** Does the check apply: the task syncs the schema. */
export function schemaExtensionsApply(task: TaskConfig): boolean {
  return hasSyncType(task, 'schema');
}

/** Who needs `e`: the objects using it, or its selected schema. */
function neededBy(e: ExtensionDef): string {
  const users = e.usedBy ?? [];
  return users.length > 0 ? `used by ${listShort(users, 5)}` : `in selected schema ${e.schema}`;
}

/**
 * Reads the extensions of the selected objects through the source and their availability through
 * the destination: FAIL naming each extension the destination server lacks (with the objects using
 * it) or that its user may not create; WARN when the destination has (or will create) another
 * version than the source's; PASS otherwise. Never throws.
 */
export async function checkSchemaExtensions(
  task: TaskConfig,
  /** The selected objects' schema model as schema sync reads it (read once for every check). */
  readModel: () => Promise<SchemaModel>,
  sink: Sink,
  destinationUser: string,
): Promise<PrecheckResult> {
  const id = 'schema-extensions';
  const title = 'Extensions of the selected objects on the destination';
  try {
    const writer = sink.schema;
    if (writer === undefined) {
      return { id, title, status: 'fail', message: 'the destination does not support schema sync' };
    }
    const model = await readModel();
    if (model.extensions.length === 0) {
      return { id, title, status: 'pass', message: 'the selected objects use no extension' };
    }
    const byName = new Map(model.extensions.map((e) => [e.name, e]));
    const states = await writer.inspectExtensions([...byName.keys()]);
    const of = (state: ExtensionAvailability['state']) => states.filter((s) => s.state === state);
    const line = (s: ExtensionAvailability) => {
      const e = byName.get(s.name);
      return `${JSON.stringify(s.name)} (${e === undefined ? 'selected' : neededBy(e)})`;
    };
    const unavailable = of('unavailable');
    const notCreatable = of('not-creatable');
    if (unavailable.length > 0 || notCreatable.length > 0) {
      const parts: string[] = [];
      const fixes: string[] = [];
      if (unavailable.length > 0) {
        parts.push(`not available on the destination server: ${unavailable.map(line).join('; ')}`);
        fixes.push(
          `install the extension files on the destination server (for example the package postgresql-<version>-<extension>, or the extension's own package), or exclude the objects that use it`,
        );
      }
      if (notCreatable.length > 0) {
        parts.push(
          `${destinationUser} may not create (not trusted, or no CREATE on the database): ${notCreatable.map(line).join('; ')}`,
        );
        fixes.push(
          `as a superuser on the destination database: ${notCreatable.map((s) => `CREATE EXTENSION ${quoteIdent(s.name)}`).join('; ')}`,
        );
      }
      return { id, title, status: 'fail', message: parts.join('; '), fix: fixes.join('; ') };
    }
    const versions = states.flatMap((s) => {
      const e = byName.get(s.name);
      if (s.state === 'unavailable' || e === undefined || s.version === e.version) return [];
      return [
        `${JSON.stringify(s.name)} ${e.version} on the source, ${s.version} ${s.state === 'installed' ? 'installed' : 'to be created'} on the destination`,
      ];
    });
    if (versions.length > 0) {
      return {
        id,
        title,
        status: 'warn',
        message: `extension versions differ (objects the newer version changed may differ): ${versions.join('; ')}`,
        fix: 'ALTER EXTENSION ... UPDATE on the older side when the versions must match',
      };
    }
    return {
      id,
      title,
      status: 'pass',
      message: `${states.length} extension(s) installed or creatable on the destination: ${listShort(
        states.map((s) => s.name),
        10,
      )}`,
    };
  } catch (e) {
    return { id, title, status: 'fail', message: e instanceof Error ? e.message : String(e) };
  }
}
