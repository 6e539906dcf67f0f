/**
 * Runs every precheck of a task and returns one result per check, in a fixed order: connections,
 * the selection (and, with schema sync under a name mapping, whether the schema maps onto it; with
 * schema sync, whether the destination can have the extensions the objects use; with
 * `schema.owners` / `schema.privileges`, whether the destination has their roles; with schema sync of
 * C or internal functions, base types, text search parsers or templates, whether the destination can
 * create them), then
 * the checks each connector contributes for its side (source, then destination). A check whose
 * prerequisites failed (e.g. the source is unreachable) is left out: the failed prerequisite is the
 * line that matters.
 */
import type { PrecheckContext, PrecheckResult } from '../../core/precheck.ts';
import type { SchemaModel } from '../../core/schema-model.ts';
import { readSchemaOptions } from '../schema-sync.ts';
import type { SelectedTable } from '../../core/selected-table.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import { checkConnection } from './check-connection.ts';
import { checkSchemaExtensions, schemaExtensionsApply } from './check-schema-extensions.ts';
import { checkSchemaMapping, schemaMappingApplies } from './check-schema-mapping.ts';
import { checkSchemaNative, schemaNativeApplies } from './check-schema-native.ts';
import { checkSchemaRoles, schemaRolesApply } from './check-schema-roles.ts';
import { checkSelectedObjects } from './check-selected-objects.ts';

/** How the prechecks get the task's connectors (building one may fail: that is a check result). */
export interface PrecheckConnectors {
  readonly openSource: () => Source;
  readonly openSink: () => Sink | Promise<Sink>;
}

/**
 * Runs the prechecks of `task`. Never throws: a check that errors is reported as `fail` with the
 * error's message. Closes the connectors before returning.
 */
export async function runPrechecks(task: TaskConfig, c: PrecheckConnectors): Promise<PrecheckResult[]> {
  const [src, dst] = await Promise.all([
    checkConnection('source', c.openSource),
    checkConnection('destination', c.openSink),
  ]);
  const results: PrecheckResult[] = [src.result, dst.result];
  try {
    let tables: SelectedTable[] | undefined;
    let targets: TableTarget[] | undefined;
    if (src.server !== undefined && src.connector !== undefined) {
      const sel = await checkSelectedObjects(task, src.connector);
      results.push(sel.result);
      tables = sel.tables;
      targets = sel.targets;
      if (targets !== undefined && schemaMappingApplies(task, targets)) {
        results.push(await checkSchemaMapping(task, src.connector, targets));
      }
      // One read of the source schema for the checks that need it (seconds with many tables).
      const source = src.connector;
      let model: Promise<SchemaModel> | undefined;
      const readModel = () => (model ??= source.readSchema(task.objects, readSchemaOptions(task)));
      if (dst.server !== undefined && dst.connector !== undefined && schemaExtensionsApply(task)) {
        results.push(await checkSchemaExtensions(task, readModel, dst.connector, dst.server.user));
      }
      if (dst.server !== undefined && dst.connector !== undefined && schemaRolesApply(task)) {
        results.push(await checkSchemaRoles(task, readModel, dst.connector, dst.server.user));
      }
      if (dst.server !== undefined && dst.connector !== undefined && schemaNativeApplies(task)) {
        const native = await checkSchemaNative(task, readModel, dst.connector, targets);
        if (native !== undefined) results.push(native);
      }
    }
    const ctx: PrecheckContext = { task, tables, targets, source: src.server, destination: dst.server };
    const checks = [
      ...(src.server !== undefined ? (src.connector?.prechecks() ?? []) : []),
      ...(dst.server !== undefined ? (dst.connector?.prechecks() ?? []) : []),
    ];
    for (const check of checks) {
      if (check.applies !== undefined && !check.applies(task)) continue;
      if (!check.needs.every((n) => ctx[n] !== undefined)) continue;
      try {
        const outcome = await check.run(ctx);
        results.push({ id: check.id, title: check.title, ...outcome });
      } catch (e) {
        const message = `check failed: ${e instanceof Error ? e.message : String(e)}`;
        results.push({ id: check.id, title: check.title, status: 'fail', message });
      }
    }
  } finally {
    await Promise.all([src.connector?.close(), dst.connector?.close()]);
  }
  return results;
}

/** Did every check pass or only warn? */
export function prechecksPassed(results: readonly PrecheckResult[]): boolean {
  return results.every((r) => r.status !== 'fail');
}
