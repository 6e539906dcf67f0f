/**
 * The `pgdts` command line: run, precheck, verify, grants, release, and the control plane's serve and
 * source (control-commands.ts). Exit codes: 0 success (and clean stop of `run` on
 * SIGINT/SIGTERM), 1 a check or verification failed, 2 a task or usage error, 130 a `verify` stopped
 * by SIGINT/SIGTERM (no result; `--resume` goes on, verify-command.ts).
 */
import { Command } from 'commander';
import { openSink, openSource, withConnectors } from '../connectors/open-connectors.ts';
import { CancelledError, ConfigError, PgdtsError } from '../core/errors.ts';
import { accessRecipes, formatAccessRecipes } from '../pipeline/grants.ts';
import { formatPrecheckReport, runPrechecks } from '../pipeline/precheck/index.ts';
import { releaseTask } from '../pipeline/release-task.ts';
import { TaskControl } from '../pipeline/task-control.ts';
import { runTask } from '../pipeline/task-runner.ts';
import { loadTaskFile } from './load-task-file.ts';
import { packageVersion } from './package-version.ts';
import { reloadTaskFile } from './reload-task-file.ts';
import { createLogger, LOG_FORMATS, LOG_LEVELS, parseLogOptions } from '../log/logger.ts';
import { ProgressDisplay } from './progress-renderer.ts';
import { TaskOutput } from './task-output.ts';
import { addControlCommands } from './control-commands.ts';
import { addVerifyCommand } from './verify-command.ts';

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
  .option('--log-format <format>', `log lines as ${LOG_FORMATS.join(' or ')}`, 'pretty')
  .option('--log-level <level>', `least severe level logged: ${LOG_LEVELS.join(', ')}`, 'info')
  .showHelpAfterError();

/** The global log options, checked. @throws {ConfigError} naming the option. */
function logOptions(): ReturnType<typeof parseLogOptions> {
  const o = program.opts<{ logFormat: string; logLevel: string }>();
  return parseLogOptions(o.logFormat, o.logLevel);
}

program
  .command('run')
  .argument('<task-file>', 'task file (YAML)')
  .description(
    'run the task in the foreground; SIGINT/SIGTERM stop it cleanly, running again resumes; SIGHUP applies a changed throttle',
  )
  .action(async (file: string) => {
    const { format, level } = logOptions();
    const task = loadTaskFile(file);
    const display = new ProgressDisplay(process.stderr);
    // Lines and the bar block may share a terminal: erase the block around each line.
    const logger = createLogger({
      format,
      level,
      write: (line) => {
        display.clear();
        process.stdout.write(line);
        display.draw();
      },
    });
    const out = new TaskOutput(logger, task.name, format, display);
    out.logger.info(
      { config: task },
      `task ${task.name}: ${task.syncTypes.join(', ')} of ${task.objects.length} selected object(s)`,
    );
    const controller = new AbortController();
    let stops = 0;
    const stop = (sig: string) => {
      stops++;
      if (stops > 1) process.exit(130);
      out.logger.warn({ signal: sig }, `${sig} received, stopping (committed work is kept)`);
      controller.abort();
    };
    process.on('SIGINT', () => stop('SIGINT'));
    process.on('SIGTERM', () => stop('SIGTERM'));
    // SIGHUP reloads the throttle from the task file (a service manager's "reload").
    const control = new TaskControl(task);
    process.on('SIGHUP', () => reloadTaskFile(file, control, out.logger));
    try {
      await withConnectors(task, (c) =>
        runTask(task, { ...c, signal: controller.signal, onProgress: (e) => out.handle(e), control }),
      );
      out.close();
      out.logger.info(`task ${task.name} done`);
    } catch (e) {
      out.close();
      if (e instanceof CancelledError || controller.signal.aborted) {
        out.logger.info(`task ${task.name} stopped; run the same command to resume`);
        process.exit(0);
      }
      if (e instanceof PgdtsError) {
        out.logger.error(
          { code: e.code, retryable: e.retryable, sqlState: e.sqlState, hint: e.hint },
          `${e.code}: ${e.message}`,
        );
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

addVerifyCommand(program);

program
  .command('grants')
  .argument('<task-file>', 'task file (YAML)')
  .option('--side <side>', 'only the statements of one side (source or destination), to pipe into psql')
  .description(
    'print the least privileges each side needs for the task, as SQL for a superuser to review and run',
  )
  .action(async (file: string, o: { side?: string }) => {
    if (o.side !== undefined && o.side !== 'source' && o.side !== 'destination') {
      throw new ConfigError('--side', `must be source or destination, got "${o.side}"`);
    }
    const side = o.side;
    const task = loadTaskFile(file);
    const recipes = await withConnectors(task, (c) => accessRecipes(task, c));
    process.stdout.write(formatAccessRecipes(task, recipes, side));
    process.exit(0);
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
      `replication slot ${r.slotName}: ${r.slotKept ? 'kept (not created by pgdts)' : r.slotDropped ? 'dropped' : 'not present'}\n` +
        `publication ${r.publicationName}: ${r.publicationKept ? 'kept (not created by pgdts)' : r.publicationDropped ? 'dropped' : 'not present'}\n` +
        `DDL capture (event trigger and function): ${r.ddlCaptureDropped ? 'dropped' : 'not present'}\n` +
        `bookkeeping of task ${task.name}: removed\n`,
    );
    process.exit(0);
  });

addControlCommands(program, version);

program.parseAsync(process.argv).catch(fail);
