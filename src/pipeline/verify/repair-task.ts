/**
 * `pgdts verify --mode rows --repair=dry-run|apply`: turns the differing rows of a verify report into
 * repair statements (src/core/repair-sql.ts) and applies them on the destination under the safety
 * rule of verify.md [V3]: each statement runs only while the destination row is still the one that
 * was verified, read under FOR UPDATE in the repair's transaction; then the repaired rows are
 * verified again (read by key on both sides; keyless tables as a whole).
 */
import { PgdtsError } from '../../core/errors.ts';
import { displayName, type QualifiedName } from '../../core/identifier.ts';
import { repairStatement, type RepairStatement } from '../../core/repair-sql.ts';
import type { RowDifference } from '../../core/row-difference.ts';
import type { RepairOutcome, RowRepairer } from '../../core/row-repairer.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import type { VerifyReport } from './verify-report.ts';
import { verifyTask, type VerifyOptions } from './verify-task.ts';

/** The repairs of one destination table. */
export interface TableRepairPlan {
  readonly table: QualifiedName;
  readonly statements: readonly RepairStatement[];
  /** Differences no statement can repair (only generated columns differ). */
  readonly unrepairable: readonly RowDifference[];
}

/** Repair statements per table, in report order (tables without differences left out). */
export type RepairPlan = readonly TableRepairPlan[];

/**
 * The repairs that make the destination equal the source, from a `rows` mode report.
 * @throws {PgdtsError} CONFIG_INVALID when the report is not a `rows` mode report.
 */
export function planRepairs(report: VerifyReport): RepairPlan {
  if (report.mode !== 'rows') {
    throw new PgdtsError('CONFIG_INVALID', `--repair needs --mode rows, not --mode ${report.mode}`);
  }
  const plan: TableRepairPlan[] = [];
  for (const t of report.tables) {
    const rows = t.rows;
    if (rows === undefined || rows.differences.length === 0) continue;
    const statements: RepairStatement[] = [];
    const unrepairable: RowDifference[] = [];
    for (const d of rows.differences) {
      const s = repairStatement(rows.shape, d);
      if (s === undefined) unrepairable.push(d);
      else statements.push(s);
    }
    plan.push({ table: rows.shape.table, statements, unrepairable });
  }
  return plan;
}

/** Outcomes of applying a plan, and the verification that followed. */
export interface RepairResult {
  readonly applied: number;
  readonly skipped: number;
  readonly failed: number;
  /** Per table: each statement with its outcome, in plan order. */
  readonly tables: readonly {
    readonly table: QualifiedName;
    readonly outcomes: readonly { readonly statement: RepairStatement; readonly outcome: RepairOutcome }[];
  }[];
  /** `rows` mode verification after the repair: of the repaired rows (keyed tables), of whole keyless tables. */
  readonly reverify: VerifyReport;
}

/** Statements per transaction: short transactions hold few row locks against a live task. */
export const REPAIR_BATCH = 500;

/**
 * Applies `plan` on the destination (transactions of {@link REPAIR_BATCH} statements, each table on
 * its own), then verifies the repaired rows again in `rows` mode with `verifyOptions` (keyed tables
 * by key, keyless tables whole).
 * @throws {PgdtsError} CONFIG_INVALID when the destination cannot apply repairs, APPLY_FAILED when a
 *   repair transaction fails as a whole (e.g. no privilege to set session_replication_role).
 */
export async function applyRepairs(
  task: TaskConfig,
  c: { readonly source: Source; readonly sink: Sink },
  plan: RepairPlan,
  verifyOptions: VerifyOptions = {},
): Promise<RepairResult> {
  const open = c.sink.openRepairer;
  if (open === undefined) {
    throw new PgdtsError('CONFIG_INVALID', `destination ${c.sink.description} cannot be repaired`);
  }
  const repairer: RowRepairer = await open();
  const tables: RepairResult['tables'][number][] = [];
  let applied = 0;
  let skipped = 0;
  let failed = 0;
  try {
    for (const t of plan) {
      const outcomes: { statement: RepairStatement; outcome: RepairOutcome }[] = [];
      for (let i = 0; i < t.statements.length; i += REPAIR_BATCH) {
        const batch = t.statements.slice(i, i + REPAIR_BATCH);
        const done = await repairer.apply(batch);
        done.forEach((outcome, j) => {
          const statement = batch[j];
          if (statement === undefined) return;
          outcomes.push({ statement, outcome });
          switch (outcome.status) {
            case 'applied':
              applied++;
              break;
            case 'skipped':
              skipped++;
              break;
            case 'failed':
              failed++;
              break;
            default: {
              const never: never = outcome;
              throw new PgdtsError('INTERNAL', `unknown repair outcome ${JSON.stringify(never)}`);
            }
          }
        });
      }
      tables.push({ table: t.table, outcomes });
    }
  } finally {
    await repairer.close();
  }
  // Keyed tables: the repaired rows (and the unrepairable ones) read again by key; keyless: whole.
  const onlyKeys = new Map<string, (readonly string[])[]>();
  for (const t of plan) {
    const keys = [...t.statements.map((s) => s.difference), ...t.unrepairable].flatMap((d) =>
      d.key === undefined ? [] : [d.key],
    );
    if (keys.length > 0) onlyKeys.set(displayName(t.table), keys);
  }
  const reverify = await verifyTask(task, c, {
    ...verifyOptions,
    mode: 'rows',
    onlyTables: plan.map((t) => displayName(t.table)),
    onlyKeys,
  });
  return { applied, skipped, failed, tables, reverify };
}
