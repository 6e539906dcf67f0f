/**
 * `pgdts verify TASK_FILE [--mode count|hash|rows] [--json] [--report FILE.csv] [--repair=dry-run|apply]`
 * or `pgdts verify TASK_FILE --schema [--json]` (definitions only, verify.md [V5]):
 * option parsing and output of the verify command (the work is in src/pipeline/verify). Exit codes:
 * 0 identical (after `--repair=apply`: identical once repaired), 1 differences, 2 a task or usage error.
 */
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openDestinationSchemaReader, openSource, withConnectors } from '../connectors/open-connectors.ts';
import { ConfigError } from '../core/errors.ts';
import { displayName } from '../core/identifier.ts';
import { formatRepairScript } from '../core/repair-sql.ts';
import {
  applyRepairs,
  DEFAULT_CHUNK_ROWS,
  DEFAULT_MAX_DIFFERENCES,
  formatSchemaVerifyReport,
  formatVerifyReport,
  planRepairs,
  rowDifferencesCsv,
  VERIFY_MODES,
  verifySchema,
  verifyTask,
  type VerifyMode,
  type VerifyOptions,
} from '../pipeline/verify/index.ts';
import { loadTaskFile } from './load-task-file.ts';

/** `--repair` values. */
const REPAIRS = ['dry-run', 'apply'] as const;

/** Options of the verify command, as commander hands them over. */
interface RawVerifyOptions {
  readonly mode: string;
  readonly schema?: boolean;
  readonly json?: boolean;
  readonly report?: string;
  readonly repair?: string;
  readonly chunkRows: string;
  readonly maxDifferences: string;
}

function positive(key: string, v: string): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(key, `must be a positive integer, got "${v}"`);
  return n;
}

/**
 * Validates the options.
 * @throws {ConfigError} naming the option: an unknown mode or repair, `--report`/`--repair` without
 *   `--mode rows`, a chunk size or limit that is not a positive integer, `--schema` with `--repair`
 *   or `--report` (it compares definitions, no rows).
 */
function parseOptions(o: RawVerifyOptions): {
  mode: VerifyMode;
  repair: (typeof REPAIRS)[number] | undefined;
  verify: VerifyOptions;
} {
  const mode = VERIFY_MODES.find((m) => m === o.mode);
  if (mode === undefined)
    throw new ConfigError('--mode', `must be ${VERIFY_MODES.join(', ')}, got "${o.mode}"`);
  if (o.schema === true && (o.repair !== undefined || o.report !== undefined)) {
    throw new ConfigError(
      '--schema',
      `compares definitions only and cannot be used with ${o.repair !== undefined ? '--repair' : '--report'} (run them without --schema)`,
    );
  }
  const repair = o.repair === undefined ? undefined : REPAIRS.find((r) => r === o.repair);
  if (o.repair !== undefined && repair === undefined) {
    throw new ConfigError('--repair', `must be dry-run or apply, got "${o.repair}"`);
  }
  if (mode !== 'rows' && (repair !== undefined || o.report !== undefined)) {
    throw new ConfigError(
      repair !== undefined ? '--repair' : '--report',
      'needs --mode rows (the differing rows)',
    );
  }
  return {
    mode,
    repair,
    verify: {
      mode,
      chunkRows: positive('--chunk-rows', o.chunkRows),
      maxDifferences: positive('--max-differences', o.maxDifferences),
    },
  };
}

/** Adds `verify` to the program. */
export function addVerifyCommand(program: Command): void {
  program
    .command('verify')
    .argument('<task-file>', 'task file (YAML)')
    .option(
      '--mode <mode>',
      'count: row counts; hash: counts and content hashes per key chunk; rows: as hash, then narrow each differing chunk to its differing rows (missing in destination, extra in destination, different with the columns and both values)',
      'hash',
    )
    .option(
      '--schema',
      "compare the selected tables' definitions (columns, constraints, foreign keys, indexes) after mapping instead of their rows; --mode is then ignored; not with --repair or --report",
    )
    .option('--json', 'print the report as JSON (for scripts) instead of text')
    .option('--report <file.csv>', 'with --mode rows: write every differing row to this CSV file')
    .option(
      '--repair <how>',
      'with --mode rows: dry-run prints the SQL that makes the destination equal the source (stdout; the report goes to stderr); apply runs it (replica mode, skipping rows changed since verified) and verifies again',
    )
    .option('--chunk-rows <n>', 'rows per compared key chunk', String(DEFAULT_CHUNK_ROWS))
    .option(
      '--max-differences <n>',
      'with --mode rows: most differing rows listed per table',
      String(DEFAULT_MAX_DIFFERENCES),
    )
    .description(
      'compare every selected table in source and destination (through mappings, filters and excluded columns); exit 1 if any differ',
    )
    .addHelpText(
      'after',
      `
Limits: each side is read at its own moment, so on a live source in-flight changes show as
differences (verify once incremental sync has caught up). Values compare as text under fixed
settings: 1.0 and 1.00 differ, '' and NULL differ, timestamptz values differ only as instants.
Keyless tables are compared as multisets, hashed in one statement per side; rows of tables merged
from several sources (mergeInto) are not listed. --repair=apply needs the right to set
session_replication_role (superuser, or GRANT SET ON PARAMETER on PostgreSQL 15+). Pace reads with
verify.rowsPerSecond and verify.megabytesPerSecond in the task file. --schema compares columns,
constraints, foreign keys and indexes of the selected tables only (not views, routines, types,
triggers, comments, grants), on a PostgreSQL destination. See README "Verification".`,
    )
    .action(async (file: string, raw: RawVerifyOptions) => {
      const o = parseOptions(raw);
      const task = loadTaskFile(file);
      const json = raw.json === true;
      // A person at a terminal gets aligned tables; a pipe gets one line per row (grep-able).
      const text = { rowsAs: process.stdout.isTTY ? ('table' as const) : ('lines' as const) };
      if (raw.schema === true) {
        const source = openSource(task);
        const destination = openDestinationSchemaReader(task);
        let identical: boolean;
        try {
          const r = await verifySchema(task, { source, destination });
          process.stdout.write(json ? `${JSON.stringify(r, null, 2)}\n` : `${formatSchemaVerifyReport(r)}\n`);
          identical = r.identical;
        } finally {
          await Promise.all([source.close(), destination.close()]);
        }
        process.exit(identical ? 0 : 1);
      }
      const exit = await withConnectors(task, async (c) => {
        const report = await verifyTask(task, c, o.verify);
        if (raw.report !== undefined) writeFileSync(raw.report, rowDifferencesCsv(report));
        switch (o.repair) {
          case undefined:
            process.stdout.write(
              json ? `${JSON.stringify(report, null, 2)}\n` : `${formatVerifyReport(report, text)}\n`,
            );
            return report.identical ? 0 : 1;
          case 'dry-run': {
            const script = formatRepairScript(planRepairs(report));
            if (json) process.stdout.write(`${JSON.stringify({ ...report, repairSql: script }, null, 2)}\n`);
            else {
              process.stderr.write(`${formatVerifyReport(report)}\n`);
              process.stdout.write(script);
            }
            return report.identical ? 0 : 1;
          }
          case 'apply': {
            const plan = planRepairs(report);
            if (!json) process.stdout.write(`${formatVerifyReport(report, text)}\n`);
            const r = await applyRepairs(task, c, plan, o.verify);
            if (json) {
              process.stdout.write(
                `${JSON.stringify({ ...report, repair: { applied: r.applied, skipped: r.skipped, failed: r.failed, tables: r.tables }, reverify: r.reverify }, null, 2)}\n`,
              );
            } else {
              process.stdout.write(
                `repair: ${r.applied} applied, ${r.skipped} skipped (changed since verified), ${r.failed} failed\n`,
              );
              for (const t of r.tables) {
                for (const x of t.outcomes) {
                  if (x.outcome.status !== 'applied') {
                    process.stdout.write(
                      `  ${x.outcome.status.toUpperCase()} ${x.statement.sql.slice(0, 200)}: ${x.outcome.reason}\n`,
                    );
                  }
                }
              }
              process.stdout.write(`after repair: ${formatVerifyReport(r.reverify, text)}\n`);
            }
            // Tables whose rows were not listed (errors, merges) were not repaired: they still differ.
            const repaired = new Set(plan.map((t) => displayName(t.table)));
            const left = report.tables.filter(
              (t) => !t.match && !repaired.has(displayName(t.destinationTable)),
            );
            return left.length === 0 && r.reverify.identical ? 0 : 1;
          }
          default: {
            const never: never = o.repair;
            throw new ConfigError('--repair', `unknown ${String(never)}`);
          }
        }
      });
      process.exit(exit);
    });
}
