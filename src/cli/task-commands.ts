/**
 * `pgdts task create|list|show|update|precheck|start|pause|resume|release|status|logs|delete`: the tasks
 * of a pgdts serve, over its API (`--server`, token from PGDTS_API_TOKEN). Human output by default,
 * `--json` for scripts. Exit codes: 0 done, 1 a precheck that did not pass, 2 an error.
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Command } from 'commander';
import { parse } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import type { PrecheckReport, TaskStatus, TaskView } from '../control/api/task-routes.ts';
import { DEFAULT_SERVER } from '../control/client/api-client.ts';
import { formatBytes } from '../log/event-lines.ts';
import { client, printJson, table, type ClientOptions } from './api-command-helpers.ts';

/** Reads a YAML or JSON document (a task definition, or a merge patch of one). */
function readDocument(file: string): unknown {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (e) {
    throw new ConfigError(file, `cannot read the file (${(e as NodeJS.ErrnoException).code ?? 'error'})`);
  }
  try {
    return parse(text) as unknown;
  } catch (e) {
    const pos = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    throw new ConfigError(
      file,
      `not valid YAML or JSON${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}`,
    );
  }
}

const out = (s: string) => process.stdout.write(`${s}\n`);

/** The lines of `pgdts task precheck`. */
function precheckLines(r: PrecheckReport): string {
  const mark = (i: PrecheckReport['items'][number]) =>
    i.status === 'warn' && i.ignored ? 'IGNORED' : i.status.toUpperCase();
  const lines = r.items.map(
    (i) =>
      `${mark(i).padEnd(7)} ${i.id}: ${i.message}${i.fix !== undefined && i.status !== 'pass' ? `\n        fix: ${i.fix}` : ''}${i.ignorable && !i.ignored ? `\n        ignorable: pgdts task precheck ${r.taskId} --ignore ${i.id}` : ''}`,
  );
  return `${lines.join('\n')}\nprecheck ${r.passed ? 'passed' : 'did not pass'}: task ${r.taskId} is ${r.state}`;
}

/** The lines of `pgdts task status`. */
function statusLines(s: TaskStatus): string {
  const n = (v: number | null, unit = '') => (v === null ? '-' : `${Math.round(v)}${unit}`);
  const rows: [string, string][] = [
    ['task', `${s.id} (${s.name})`],
    ['state', s.state],
    ['phase', s.phase ?? '-'],
    ['worker', s.workerId ?? '-'],
    ['lag', s.lagBytes === null ? '-' : `${formatBytes(s.lagBytes)} / ${n(s.lagMs, ' ms')}`],
    ['rows/s', n(s.rowsPerSecond)],
    ['bytes/s', s.bytesPerSecond === null ? '-' : `${formatBytes(s.bytesPerSecond)}/s`],
    ['retained WAL', s.retainedWalBytes === null ? '-' : formatBytes(s.retainedWalBytes)],
    ['errors, retries', `${s.errorsTotal}, ${s.retriesTotal}`],
    ['last error', s.lastError === null ? '-' : `${s.lastError.code}: ${s.lastError.message}`],
    ['status at', s.statusAt ?? '-'],
    ...s.alerts.map((a): [string, string] => [
      `alert ${a.rule}`,
      `${a.state} since ${a.since}: ${a.message}`,
    ]),
  ];
  return rows.map(([k, v]) => `${`${k}:`.padEnd(17)}${v}`).join('\n');
}

/** The lines of `pgdts task show`. */
function showLines(t: TaskView): string {
  const rows: [string, string][] = [
    ['id', t.id],
    ['name', t.name],
    ['state', t.state],
    ['revision', String(t.revision)],
    [
      'precheck',
      t.precheck.finishedAt === null
        ? '-'
        : `${t.precheck.finishedAt}${t.precheck.current ? '' : ' (stale)'}`,
    ],
    ['ignored', t.ignoredItems.join(', ') || '-'],
    ['started', t.startedAt ?? '-'],
    ['worker', t.workerId ?? '-'],
    ['last error', t.lastError === null ? '-' : `${t.lastError.code}: ${t.lastError.message}`],
    ['created', t.createdAt],
    ['updated', t.updatedAt],
  ];
  return `${rows.map(([k, v]) => `${`${k}:`.padEnd(12)}${v}`).join('\n')}\ndefinition:\n${JSON.stringify(t.definition, null, 2)}`;
}

/** Adds `task` and its subcommands to the program. */
export function addTaskCommands(program: Command): void {
  const task = program.command('task').description('tasks of a pgdts serve (its API)');
  const withClient = (c: Command) =>
    c.option('--server <url>', 'the pgdts serve API', DEFAULT_SERVER).option('--json', 'print JSON');

  withClient(
    task
      .command('create')
      .argument(
        '<file>',
        'task definition (YAML or JSON): a task file with source/destination {dataSource: ID}',
      )
      .description('create a task (state created; precheck it, then start it)'),
  ).action(async (file: string, o: ClientOptions) => {
    const t = await client(o).createTask(readDocument(file));
    if (o.json === true) printJson(t);
    else out(`task ${t.id} created (${t.name}): next, pgdts task precheck ${t.id}`);
    process.exit(0);
  });

  withClient(task.command('list').description('list the tasks')).action(async (o: ClientOptions) => {
    const items = await client(o).listTasks();
    if (o.json === true) printJson(items);
    else {
      out(
        table(
          ['ID', 'NAME', 'STATE', 'SOURCE', 'DESTINATION', 'SYNC TYPES', 'UPDATED'],
          items.map((t) => {
            const d = t.definition as {
              source?: { dataSource?: string };
              destination?: { dataSource?: string };
              syncTypes?: string[];
            };
            return [
              t.id,
              t.name,
              t.state,
              d.source?.dataSource ?? '',
              d.destination?.dataSource ?? '',
              (d.syncTypes ?? []).join(','),
              t.updatedAt,
            ];
          }),
        ),
      );
    }
    process.exit(0);
  });

  withClient(task.command('show').argument('<id>').description('show a task and its definition')).action(
    async (id: string, o: ClientOptions) => {
      const t = await client(o).getTask(id);
      if (o.json === true) printJson(t);
      else out(showLines(t));
      process.exit(0);
    },
  );

  withClient(
    task
      .command('update')
      .argument('<id>')
      .argument('<file>', 'a JSON merge patch of the definition (YAML or JSON; null removes a key)')
      .description(
        'change a task: throttle, alerts and name while it runs; any other key once it is paused (it then needs a precheck)',
      ),
  ).action(async (id: string, file: string, o: ClientOptions) => {
    const t = await client(o).patchTask(id, readDocument(file));
    if (o.json === true) printJson(t);
    else out(`task ${t.id} changed (revision ${t.revision}): ${t.state}`);
    process.exit(0);
  });

  withClient(
    task
      .command('precheck')
      .argument('<id>')
      .option('--ignore <item...>', 'ignore these warnings of the last precheck first')
      .description('run the precheck of a task; exit 1 unless it passes'),
  ).action(async (id: string, o: ClientOptions & { ignore?: string[] }) => {
    const c = client(o);
    for (const item of o.ignore ?? []) await c.ignorePrecheckItem(id, item);
    const r = await c.precheckTask(id);
    if (o.json === true) printJson(r);
    else out(precheckLines(r));
    process.exit(r.passed ? 0 : 1);
  });

  for (const action of ['start', 'pause', 'resume'] as const) {
    withClient(
      task
        .command(action)
        .argument('<id>')
        .description(
          action === 'start'
            ? 'start a prechecked task (a worker runs it)'
            : action === 'pause'
              ? 'pause a running task (committed work is kept)'
              : 'resume a paused or failed task from its checkpoint',
        ),
    ).action(async (id: string, o: ClientOptions) => {
      const t = await client(o).actOnTask(id, action);
      if (o.json === true) printJson(t);
      else out(`task ${t.id}: ${t.state}`);
      process.exit(0);
    });
  }

  withClient(
    task
      .command('release')
      .argument('<id>')
      .description('stop a task for good: drop its slot, publication and DDL capture, and its bookkeeping'),
  ).action(async (id: string, o: ClientOptions) => {
    const r = await client(o).releaseTask(id);
    if (o.json === true) printJson(r);
    else {
      out(
        `task ${r.task.id}: released (replication slot ${r.slotDropped ? 'dropped' : 'not dropped'}, publication ${r.publicationDropped ? 'dropped' : 'not dropped'}, DDL capture ${r.ddlCaptureDropped ? 'dropped' : 'not present'})`,
      );
    }
    process.exit(0);
  });

  withClient(
    task.command('delete').argument('<id>').description('delete a released (or never started) task'),
  ).action(async (id: string, o: ClientOptions) => {
    await client(o).deleteTask(id);
    if (o.json === true) printJson({ id, deleted: true });
    else out(`task ${id} deleted`);
    process.exit(0);
  });

  withClient(
    task
      .command('status')
      .argument('<id>')
      .option('--tables', 'also the progress of each table')
      .description('state, phase, lag, rates, retained WAL, last error and alerts of a task'),
  ).action(async (id: string, o: ClientOptions & { tables?: boolean }) => {
    const c = client(o);
    const s = await c.taskStatus(id);
    const tables = o.tables === true ? await c.taskTables(id) : undefined;
    if (o.json === true) printJson(tables === undefined ? s : { ...s, tables: tables.items });
    else {
      out(statusLines(s));
      if (tables !== undefined) {
        out(
          table(
            ['TABLE', 'PHASE', 'ROWS', 'BYTES', 'PROGRESS'],
            tables.items.map((t) => [
              t.table,
              t.phase,
              String(t.rows),
              formatBytes(t.bytes),
              t.progress === null ? '-' : `${Math.round(t.progress * 100)}%`,
            ]),
          ),
        );
      }
    }
    process.exit(0);
  });

  withClient(
    task
      .command('logs')
      .argument('<id>')
      .option('--since <time>', 'lines at or after this ISO 8601 time')
      .option('-f, --follow', 'keep printing new lines (Ctrl-C stops)')
      .description('the log lines of a task (as pgdts run prints them)'),
  ).action(async (id: string, o: ClientOptions & { since?: string; follow?: boolean }) => {
    const c = client(o);
    let after: number | undefined;
    for (;;) {
      const r = await c.taskLogs(id, {
        ...(after !== undefined ? { after } : {}),
        ...(o.since !== undefined && after === undefined ? { since: o.since } : {}),
      });
      for (const l of r.items) {
        if (o.json === true) out(JSON.stringify(l));
        else
          out(
            `${l.time} ${l.level.toUpperCase().padEnd(5)} [${typeof l.fields.phase === 'string' ? l.fields.phase : '-'}] ${l.message}`,
          );
      }
      after = r.next;
      if (o.follow !== true) break;
      await sleep(1000);
    }
    process.exit(0);
  });
}
