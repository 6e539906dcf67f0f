/**
 * `pgdts verify TASK_FILE [--mode count|hash|rows] [--json] [--report FILE.csv] [--repair=dry-run|apply]
 * [--resume]` or `pgdts verify TASK_FILE --schema [--json]` (definitions only, verify.md [V5]):
 * option parsing and output of the verify command (the work is in src/pipeline/verify). Progress is
 * saved in the destination's bookkeeping as the run goes; SIGINT/SIGTERM stop it between statements
 * and `--resume` goes on from there (verify.md [V7]). Exit codes: 0 identical (after
 * `--repair=apply`: identical once repaired), 1 differences, 2 a task or usage error, 130 stopped by
 * SIGINT/SIGTERM (no result; the progress is kept).
 */
import { randomUUID } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import type { Command } from 'commander';
import { openDestinationSchemaReader, openSource, withConnectors } from '../connectors/open-connectors.ts';
import { ConfigError, PgdtsError } from '../core/errors.ts';
import { displayName } from '../core/identifier.ts';
import { formatRepairScript } from '../core/repair-sql.ts';
import type { Sink } from '../core/sink.ts';
import type { TaskConfig } from '../core/task-config.ts';
import {
  applyRepairs,
  DEFAULT_CATCH_UP_TIMEOUT_MS,
  BookVerifyProgress,
  DEFAULT_CHUNK_ROWS,
  DEFAULT_LEAF_ROWS,
  DEFAULT_MAX_DIFFERENCES,
  differingRunOptions,
  formatSchemaVerifyReport,
  formatVerifyReport,
  planRepairs,
  resumePointOf,
  rowDifferencesCsv,
  VERIFY_MODES,
  verifyRunOptions,
  verifySchema,
  verifyTask,
  type VerifyMode,
  type VerifyOptions,
  type VerifyResumePoint,
  type VerifyRunOptions,
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
  /** `--live` true, `--no-live` false, neither undefined (live when the task streams). */
  readonly live?: boolean;
  readonly catchUpTimeout: string;
  readonly resume?: boolean;
}

/** Exit code of a verify stopped by SIGINT or SIGTERM (128 + SIGINT's number, as shells report it). */
export const EXIT_STOPPED = 130;

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
  if (o.schema === true && (o.repair !== undefined || o.report !== undefined || o.resume === true)) {
    throw new ConfigError(
      '--schema',
      `compares definitions only and cannot be used with ${o.repair !== undefined ? '--repair' : o.report !== undefined ? '--report' : '--resume'} (run them without --schema)`,
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
      catchUpTimeoutMs: positive('--catch-up-timeout', o.catchUpTimeout) * 1000,
      ...(o.live === undefined ? {} : { live: o.live }),
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
    .option(
      '--live',
      'require the task to be streaming into the destination and re-check every difference at a consistent point (the default whenever it streams)',
    )
    .option('--no-live', 'compare both sides as they are, even while the task streams')
    .option(
      '--catch-up-timeout <seconds>',
      'live: longest wait for incremental sync to apply up to a source snapshot',
      String(DEFAULT_CATCH_UP_TIMEOUT_MS / 1000),
    )
    .option(
      '--resume',
      'go on with the last stopped verify of this task (progress kept in the destination, pgdts.verify_progress), skipping its compared tables and chunks; needs the same --mode, --chunk-rows and --max-differences; when none was stopped, verify from the start',
    )
    .description(
      'compare every selected table in source and destination (through mappings, filters and excluded columns); exit 1 if any differ',
    )
    .addHelpText(
      'after',
      `
While the task streams into the destination, verification is live: a difference seen is re-checked
with the source read at a snapshot LSN and the destination once it has applied up to it, and only
confirmed ones are reported (rows that changed in every re-check are listed as unsettled). Without a
streaming task both sides are read as they are. Values compare as text under fixed
settings: 1.0 and 1.00 differ, '' and NULL differ, timestamptz values differ only as instants.
Keyless tables are compared as multisets, hashed in one statement per side; rows of tables merged
from several sources (mergeInto) are not listed. --repair=apply needs the right to set
session_replication_role (superuser, or GRANT SET ON PARAMETER on PostgreSQL 15+). Pace reads with
verify.rowsPerSecond and verify.megabytesPerSecond in the task file. --schema compares columns,
constraints, foreign keys and indexes of the selected tables only (not views, routines, types,
triggers, comments, grants), on a PostgreSQL destination. Progress is saved in the destination
after every chunk: Ctrl-C (SIGINT) or SIGTERM stops between statements (exit ${EXIT_STOPPED}), and
--resume goes on from the last compared chunk. See README "Verification".`,
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
      const stopper = new AbortController();
      let stopped: string | undefined;
      const stop = (sig: string) => {
        // A second signal does not wait for the statement in flight.
        if (stopped !== undefined) process.exit(EXIT_STOPPED);
        stopped = sig;
        process.stderr.write(`${sig} received: stopping after the statement in flight\n`);
        stopper.abort();
      };
      process.on('SIGINT', () => stop('SIGINT'));
      process.on('SIGTERM', () => stop('SIGTERM'));
      const exit = await withConnectors(task, async (c) => {
        const progress = await openProgress(task, c.sink, o.verify, raw.resume === true);
        let report;
        try {
          report = await verifyTask(task, c, {
            ...o.verify,
            signal: stopper.signal,
            ...(progress === undefined ? {} : { progress }),
          });
        } catch (e) {
          if (e instanceof PgdtsError && e.code === 'CANCELLED' && stopped !== undefined) {
            process.stderr.write(
              progress === undefined
                ? `verify stopped by ${stopped}; its progress was not saved: run it again from the start\n`
                : `verify stopped by ${stopped}; its progress is kept in the destination (pgdts.verify_progress): run ${resumeCommand()} to go on from the last compared chunk\n`,
            );
            return EXIT_STOPPED;
          }
          throw e;
        }
        // [V12] A finished run clears its progress (a failed one keeps it: --resume goes on).
        await progress?.finish();
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

/** The command line of this run with `--resume` (to print when it stopped). */
function resumeCommand(): string {
  const args = process.argv.slice(2).filter((a) => a !== '--resume');
  return ['pgdts', ...args, '--resume']
    .map((a) => (/^[\w@%+=:,./-]+$/.test(a) ? a : `'${a.replace(/'/g, "'\\''")}'`))
    .join(' ');
}

/** How an option of a stopped run is given on the command line, for messages. */
function describeOption(key: keyof VerifyRunOptions, v: unknown): string {
  switch (key) {
    case 'mode':
      return `--mode ${String(v)}`;
    case 'chunkRows':
      return `--chunk-rows ${String(v)}`;
    case 'maxDifferences':
      return `--max-differences ${String(v)}`;
    case 'leafRows':
      return `leaf rows ${String(v)}`;
    case 'onlyTables':
      return `tables ${JSON.stringify(v)}`;
    case 'objects':
      return `objects digest ${String(v).slice(0, 12)}`;
    default: {
      const never: never = key;
      return String(never);
    }
  }
}

/**
 * The progress of this run in the destination's bookkeeping [V12]: with `resume`, the saved run's
 * (refused when its options differ; from the start, said on stderr, when none is saved); otherwise a
 * new one replacing any saved. Without `resume`, a destination where progress cannot be saved (no
 * privilege to create the pgdts schema) verifies without it, with a warning.
 * @throws {ConfigError} naming --resume when the saved run's options differ from this one's.
 */
async function openProgress(
  task: TaskConfig,
  sink: Sink,
  v: VerifyOptions,
  resume: boolean,
): Promise<BookVerifyProgress | undefined> {
  const book = sink.verifyProgress;
  // A destination without a book (Kafka) is refused by verifyTask itself.
  if (book === undefined) return undefined;
  const options = verifyRunOptions(task, {
    mode: v.mode ?? 'hash',
    chunkRows: v.chunkRows ?? DEFAULT_CHUNK_ROWS,
    leafRows: v.leafRows ?? DEFAULT_LEAF_ROWS,
    maxDifferences: v.maxDifferences ?? DEFAULT_MAX_DIFFERENCES,
  });
  let from: VerifyResumePoint | undefined;
  if (resume) {
    const saved = await book.read(task.name);
    if (saved === undefined) {
      process.stderr.write(
        `nothing to resume: no stopped verify of task ${task.name}; verifying from the start\n`,
      );
    } else {
      const diff = differingRunOptions(saved.options, options);
      if (diff.length > 0) {
        throw new ConfigError(
          '--resume',
          `the stopped verify of task ${task.name} (started ${saved.startedAt.toISOString()}) ran with ${diff.map((d) => describeOption(d.key, d.saved)).join(', ')}, this one with ${diff.map((d) => describeOption(d.key, d.now)).join(', ')}: give the same options to resume it, or leave --resume out to verify from the start`,
        );
      }
      from = resumePointOf(saved);
      const partial = from.partial;
      process.stderr.write(
        `resuming the verify of task ${task.name} started ${saved.startedAt.toISOString()}: ${from.tables.length} table(s) done${partial === undefined ? '' : `, ${partial.table} after ${partial.chunks} chunk(s)`}\n`,
      );
    }
  }
  const runId = randomUUID();
  try {
    if (!(await book.begin(task.name, runId, options, from !== undefined))) {
      // Cleared between the read and the take-over (another run finished it): start afresh.
      from = undefined;
      await book.begin(task.name, runId, options, false);
    }
  } catch (e) {
    if (resume) throw e;
    process.stderr.write(
      `warning: verify progress cannot be saved in the destination (${e instanceof Error ? e.message : String(e)}): this run cannot be resumed\n`,
    );
    return undefined;
  }
  return new BookVerifyProgress(book, task.name, runId, from);
}
