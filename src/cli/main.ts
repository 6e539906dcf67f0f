/**
 * The `pgdts` command line: run, precheck, verify, release. Exit codes: 0 success (and clean stop on
 * SIGINT/SIGTERM), 1 a check or verification failed, 2 a task or usage error.
 */
import { Command } from 'commander';
import { openSink, openSource, withConnectors } from '../connectors/open-connectors.ts';
import { CancelledError, PgdtsError } from '../core/errors.ts';
import { formatPrecheckReport, runPrechecks } from '../pipeline/precheck/index.ts';
import { releaseTask } from '../pipeline/release-task.ts';
import { runTask } from '../pipeline/task-runner.ts';
import { formatVerifyReport, verifyTask } from '../pipeline/verify/index.ts';
import { loadTaskFile } from './load-task-file.ts';
import { packageVersion } from './package-version.ts';
import { ProgressRenderer } from './progress-renderer.ts';

function fail(e: unknown): never {
  if (e instanceof PgdtsError) {
    process.stderr.write(
      `pgdts: ${e.code}: ${e.message}\n${e.hint !== undefined ? `pgdts: hint: ${e.hint}\n` : ''}`,
    );
  } else {
    process.stderr.write(`pgdts: INTERNAL: ${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
  }
  process.exit(2);
}

let version: string;
try {
  version = packageVersion();
} catch (e) {
  fail(e);
}

const program = new Command();
program
  .name('pgdts')
  .description('PostgreSQL data transmission: schema, consistent full and incremental (pgoutput) sync')
  .version(version, '-V, --version', 'print the pgdts version and exit')
  .showHelpAfterError();

program
  .command('run')
  .argument('<task-file>', 'task file (YAML)')
  .description('run the task in the foreground; SIGINT/SIGTERM stop it cleanly, running again resumes')
  .action(async (file: string) => {
    const task = loadTaskFile(file);
    const controller = new AbortController();
    let stops = 0;
    const stop = (sig: string) => {
      stops++;
      if (stops > 1) process.exit(130);
      process.stderr.write(`\npgdts: ${sig} received, stopping (committed work is kept)\n`);
      controller.abort();
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    const renderer = new ProgressRenderer();
    try {
      await withConnectors(task, (c) =>
        runTask(task, { ...c, signal: controller.signal, onProgress: (e) => renderer.handle(e) }),
      );
      renderer.close();
      process.stdout.write(`task ${task.name} done\n`);
    } catch (e) {
      renderer.close();
      if (e instanceof CancelledError || controller.signal.aborted) {
        process.stdout.write(`task ${task.name} stopped; run the same command to resume\n`);
        process.exit(0);
      }
      throw e;
    }
    process.exit(0);
  });

program
  .command('precheck')
  .argument('<task-file>', 'task file (YAML)')
  .description('check both servers, settings, privileges and objects; exit 1 on any failed check')
  .action(async (file: string) => {
    const task = loadTaskFile(file);
    const results = await runPrechecks(task, {
      openSource: () => openSource(task),
      openSink: () => openSink(task),
    });
    process.stdout.write(`${formatPrecheckReport(results)}\n`);
    process.exit(results.some((r) => r.status === 'fail') ? 1 : 0);
  });

program
  .command('verify')
  .argument('<task-file>', 'task file (YAML)')
  .description('compare row counts and ordered content hashes of every selected table; exit 1 if any differ')
  .action(async (file: string) => {
    const task = loadTaskFile(file);
    const report = await withConnectors(task, (c) => verifyTask(task, c));
    process.stdout.write(`${formatVerifyReport(report)}\n`);
    process.exit(report.identical ? 0 : 1);
  });

program
  .command('release')
  .argument('<task-file>', 'task file (YAML)')
  .description(
    'drop the replication slot and publication on the source and the bookkeeping in the destination',
  )
  .action(async (file: string) => {
    const task = loadTaskFile(file);
    const r = await withConnectors(task, (c) => releaseTask(task, c));
    process.stdout.write(
      `replication slot ${r.slotName}: ${r.slotDropped ? 'dropped' : 'not present'}\n` +
        `publication ${r.publicationName}: ${r.publicationDropped ? 'dropped' : 'not present'}\n` +
        `bookkeeping of task ${task.name}: removed\n`,
    );
    process.exit(0);
  });

program.parseAsync(process.argv).catch(fail);
