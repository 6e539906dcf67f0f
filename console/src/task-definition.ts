/**
 * The task definition the wizard builds (POST /api/v1/tasks), from what its steps hold, and the
 * JSON merge patch (RFC 7396) that turns one definition into another (an edit after creation).
 */
import type { TaskDefinitionInput } from './api-client.ts';

/** A table picked in the objects step, with its rename and row filter. */
export interface PickedTable {
  readonly schema: string;
  readonly table: string;
  /** Destination `schema.table`, empty for the same name. */
  readonly as: string;
  /** SQL condition on the source columns, empty for every row. */
  readonly where: string;
}

/** A schema selected whole: its destination schema and the tables left out. */
export interface PickedSchema {
  readonly schema: string;
  /** Destination schema, empty for the same name. */
  readonly as: string;
  /** Table names left out. */
  readonly exclude: readonly string[];
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
  conflictingTables: 'precheck-error' | 'ignore';
  onConflict: 'error' | 'overwrite';
  fullRowsPerSecond: number | '';
  fullMegabytesPerSecond: number | '';
  incrementalRowsPerSecond: number | '';
  incrementalMegabytesPerSecond: number | '';
  webhook: string;
  alertTaskFailed: boolean;
  latencySeconds: number | '';
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

/** The task definition of a wizard state (only the keys set: the API's defaults apply to the rest). */
export function definitionOf(w: WizardState): TaskDefinitionInput {
  const objects: Record<string, unknown>[] = [
    ...w.schemas.map((s) => ({
      schema: quoteName(s.schema),
      ...(s.exclude.length > 0 ? { exclude: s.exclude.map(quoteName) } : {}),
      ...(s.as.trim() !== '' ? { as: s.as.trim() } : {}),
    })),
    ...w.tables
      .filter((x) => !w.schemas.some((s) => s.schema === x.schema))
      .map((x) => ({
        table: `${quoteName(x.schema)}.${quoteName(x.table)}`,
        ...(x.as.trim() !== '' ? { as: x.as.trim() } : {}),
        ...(x.where.trim() !== '' ? { where: x.where.trim() } : {}),
      })),
  ];
  const full = throttle(w.fullRowsPerSecond, w.fullMegabytesPerSecond);
  const incremental = throttle(w.incrementalRowsPerSecond, w.incrementalMegabytesPerSecond);
  const rules: Record<string, unknown>[] = [];
  if (w.alertTaskFailed) rules.push({ type: 'task-failed' });
  if (w.latencySeconds !== '') rules.push({ type: 'latency', thresholdSeconds: w.latencySeconds });
  const def: Record<string, unknown> = {
    name: w.name,
    source: { dataSource: w.source ?? '' },
    destination: { dataSource: w.destination ?? '' },
    syncTypes: w.syncTypes,
    objects,
  };
  if (w.conflictingTables !== 'precheck-error') def.conflictingTables = w.conflictingTables;
  if (w.onConflict !== 'error') def.onConflict = w.onConflict;
  if (full !== undefined) def.full = { throttle: full };
  if (incremental !== undefined) def.incremental = { throttle: incremental };
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
