/**
 * The task definition the wizard builds (POST /api/v1/tasks), from what its steps hold, and the
 * JSON merge patch (RFC 7396) that turns one definition into another (an edit after creation).
 */
import type { TaskDefinitionInput } from './api-client.ts';

/**
 * What `objects[].operations` may list (src/core/task-config.ts OBJECT_OPERATIONS): the row
 * operations incremental sync applies and `ddl`. All of them when the key is absent.
 */
export const OBJECT_OPERATIONS = ['insert', 'update', 'delete', 'truncate', 'ddl'] as const;

/** One of {@link OBJECT_OPERATIONS}. */
export type ObjectOperation = (typeof OBJECT_OPERATIONS)[number];

/** A table picked in the objects step, with its rename and row filter. */
export interface PickedTable {
  readonly schema: string;
  readonly table: string;
  /** Destination `schema.table`, empty for the same name. */
  readonly as: string;
  /** SQL condition on the source columns, empty for every row. */
  readonly where: string;
  /** What incremental sync applies to it (all: the key is left out). */
  readonly operations: readonly ObjectOperation[];
}

/** A schema selected whole: its destination schema and the tables left out. */
export interface PickedSchema {
  readonly schema: string;
  /** Destination schema, empty for the same name. */
  readonly as: string;
  /** Table names left out. */
  readonly exclude: readonly string[];
  /** What incremental sync applies to its tables (all: the key is left out). */
  readonly operations: readonly ObjectOperation[];
}

/** A bulk rename rule (the definition's `mapping`): `schema.table` patterns, `*` captures. */
export interface MappingRule {
  readonly from: string;
  readonly to: string;
}

/** What the wizard's steps hold. */
export interface WizardState {
  name: string;
  source: string | null;
  destination: string | null;
  syncTypes: ('schema' | 'full' | 'incremental')[];
  /** Schemas selected whole. */
  schemas: PickedSchema[];
  /** Tables selected one by one (not in a whole schema). */
  tables: PickedTable[];
  /** Bulk renames, first matching rule wins; an entry's own `as` wins over them. */
  mapping: MappingRule[];
  conflictingTables: 'precheck-error' | 'ignore';
  onConflict: 'error' | 'overwrite';
  fullRowsPerSecond: number | '';
  fullMegabytesPerSecond: number | '';
  incrementalRowsPerSecond: number | '';
  incrementalMegabytesPerSecond: number | '';
  webhook: string;
  alertTaskFailed: boolean;
  latencySeconds: number | '';
  /** `retry.connectionMinutes` (empty: the default, 720). */
  retryConnectionMinutes: number | '';
  /** `retry.otherMinutes` (empty: the default, 10). */
  retryOtherMinutes: number | '';
  /** `source.heartbeat` given (else the data source's heartbeat setting decides). */
  heartbeat: boolean;
  /** `source.heartbeat.intervalMs` (empty: the default, 10000). */
  heartbeatIntervalMs: number | '';
  /** `source.heartbeat.table` (`schema.table`; empty: a logical decoding message). */
  heartbeatTable: string;
}

/** A name as the task definition writes it: quoted unless a plain lower-case identifier. */
export function quoteName(n: string): string {
  return /^[a-z_][a-z0-9_$]*$/.test(n) ? n : `"${n.replace(/"/g, '""')}"`;
}

function throttle(rows: number | '', mb: number | ''): Record<string, number> | undefined {
  const t: Record<string, number> = {};
  if (rows !== '') t.rowsPerSecond = rows;
  if (mb !== '') t.megabytesPerSecond = mb;
  return Object.keys(t).length === 0 ? undefined : t;
}

function operations(ops: readonly ObjectOperation[]): { operations?: ObjectOperation[] } {
  // Every operation is the default: the key is left out. The order is the list's, not the clicks'.
  return ops.length === OBJECT_OPERATIONS.length
    ? {}
    : { operations: OBJECT_OPERATIONS.filter((o) => ops.includes(o)) };
}

/** The task definition of a wizard state (only the keys set: the API's defaults apply to the rest). */
export function definitionOf(w: WizardState): TaskDefinitionInput {
  const objects: Record<string, unknown>[] = [
    ...w.schemas.map((s) => ({
      schema: quoteName(s.schema),
      ...(s.exclude.length > 0 ? { exclude: s.exclude.map(quoteName) } : {}),
      ...(s.as.trim() !== '' ? { as: s.as.trim() } : {}),
      ...operations(s.operations),
    })),
    ...w.tables
      .filter((x) => !w.schemas.some((s) => s.schema === x.schema))
      .map((x) => ({
        table: `${quoteName(x.schema)}.${quoteName(x.table)}`,
        ...(x.as.trim() !== '' ? { as: x.as.trim() } : {}),
        ...(x.where.trim() !== '' ? { where: x.where.trim() } : {}),
        ...operations(x.operations),
      })),
  ];
  const mapping = w.mapping
    .filter((m) => m.from.trim() !== '' || m.to.trim() !== '')
    .map((m) => ({ from: m.from.trim(), to: m.to.trim() }));
  const retry: Record<string, number> = {};
  if (w.retryConnectionMinutes !== '') retry.connectionMinutes = w.retryConnectionMinutes;
  if (w.retryOtherMinutes !== '') retry.otherMinutes = w.retryOtherMinutes;
  const heartbeat: Record<string, unknown> = {};
  if (w.heartbeatIntervalMs !== '') heartbeat.intervalMs = w.heartbeatIntervalMs;
  if (w.heartbeatTable.trim() !== '') heartbeat.table = w.heartbeatTable.trim();
  const full = throttle(w.fullRowsPerSecond, w.fullMegabytesPerSecond);
  const incremental = throttle(w.incrementalRowsPerSecond, w.incrementalMegabytesPerSecond);
  const rules: Record<string, unknown>[] = [];
  if (w.alertTaskFailed) rules.push({ type: 'task-failed' });
  if (w.latencySeconds !== '') rules.push({ type: 'latency', thresholdSeconds: w.latencySeconds });
  const def: Record<string, unknown> = {
    name: w.name,
    source: { dataSource: w.source ?? '', ...(w.heartbeat ? { heartbeat } : {}) },
    destination: { dataSource: w.destination ?? '' },
    syncTypes: w.syncTypes,
    objects,
  };
  if (mapping.length > 0) def.mapping = mapping;
  if (w.conflictingTables !== 'precheck-error') def.conflictingTables = w.conflictingTables;
  if (w.onConflict !== 'error') def.onConflict = w.onConflict;
  if (full !== undefined) def.full = { throttle: full };
  if (incremental !== undefined) def.incremental = { throttle: incremental };
  if (Object.keys(retry).length > 0) def.retry = retry;
  if (rules.length > 0 || w.webhook.trim() !== '') {
    def.alerts = { webhooks: w.webhook.trim() === '' ? [] : [w.webhook.trim()], rules };
  }
  return def as TaskDefinitionInput;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

/** The JSON merge patch from `from` to `to`: removed keys as null, objects key by key. */
export function mergePatchOf(from: unknown, to: unknown): unknown {
  if (!isObject(from) || !isObject(to)) return to;
  const patch: Record<string, unknown> = {};
  for (const k of Object.keys(from)) if (!(k in to)) patch[k] = null;
  for (const [k, v] of Object.entries(to)) {
    if (JSON.stringify(from[k]) === JSON.stringify(v)) continue;
    patch[k] = mergePatchOf(from[k], v);
  }
  return patch;
}

/** One part of a rule (`schema` or `table`), as the engine reads it: `*` captures, lower case. */
function globCapture(pattern: string): RegExp {
  const body = [...pattern]
    .map((ch) => (ch === '*' ? '(.*)' : ch.replace(/[.+?^${}()|[\]\\]/g, '\\$&')))
    .join('');
  return new RegExp(`^${body}$`, 'su');
}

/**
 * The destination `schema.table` of source table `schema.table` under the wizard's selection, as
 * the engine resolves it (src/core/table-targets.ts `targetName`): a table's own `as`, else its
 * whole schema's `as`, else the first mapping rule whose `from` matches (rule parts are read lower
 * case, `*` captures fill the `*`s of `to` in order), else the same name. A rule that is not
 * `schema.table` is skipped (the API names it when the task is created).
 */
export function destinationOf(
  w: Pick<WizardState, 'schemas' | 'tables' | 'mapping'>,
  schema: string,
  table: string,
): string {
  // A table of a schema selected whole is selected by the schema entry (definitionOf drops its own).
  const whole = w.schemas.find((x) => x.schema === schema);
  const own = w.tables.find((x) => x.schema === schema && x.table === table);
  if (whole !== undefined && whole.as.trim() !== '') return `${whole.as.trim()}.${table}`;
  if (whole === undefined && own !== undefined && own.as.trim() !== '') return own.as.trim();
  for (const rule of w.mapping) {
    const from = rule.from.trim().toLowerCase().split('.');
    const to = rule.to.trim().toLowerCase().split('.');
    if (from.length !== 2 || to.length !== 2) continue;
    const s = globCapture(from[0] ?? '').exec(schema);
    const n = globCapture(from[1] ?? '').exec(table);
    if (s === null || n === null) continue;
    const captures = [...s.slice(1), ...n.slice(1)];
    let i = 0;
    const fill = (part: string) => part.replace(/\*/g, () => captures[i++] ?? '');
    return `${fill(to[0] ?? '')}.${fill(to[1] ?? '')}`;
  }
  return `${schema}.${table}`;
}
