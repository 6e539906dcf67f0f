/**
 * The task routes of the REST API (issue 9 item 4): `/api/v1/tasks` (list, create), `/{id}` (read,
 * JSON merge patch, delete), `/{id}/precheck` (run, read), `/{id}/precheck/items/{item}/ignore`,
 * `/{id}/{start|pause|resume|release}`, and what the task's worker observed: `/{id}/status`,
 * `/{id}/tables`, `/{id}/logs`, `/{id}/alerts` (the alert history, newest first). Request and response shapes are zod schemas, so they are also the
 * OpenAPI document's. The lifecycle is task-service.ts's.
 */
import type { FastifyInstance } from 'fastify';
import type { ZodTypeProvider } from 'fastify-type-provider-zod';
import { z } from 'zod';
import type { ControlStore } from '../store/control-store.ts';
import type { StoredAlert, StoredTask } from '../store/task-store.ts';
import { taskDefinitionSchema, taskId } from '../task/task-definition-schema.ts';
import {
  VERIFICATION_STATUSES,
  VERIFICATION_TRIGGERS,
  type StoredVerification,
} from '../store/verification-store.ts';
import type { VerificationRunner } from '../task/verification-runner.ts';
import { VERIFY_MODES } from '../../pipeline/verify/index.ts';
import { TaskService, type PrecheckOutcomeView } from '../task/task-service.ts';
import { scheduleEligibility, scheduleOf } from '../task/verification-scheduler.ts';
import { TASK_STATES } from '../task/task-state.ts';
import { lastErrorSchema, RUN_PHASES, runStatusSchema } from '../task/task-status.ts';
import { API_ERRORS } from './api-error.ts';

const errors = API_ERRORS;

const iso = () => z.string().meta({ description: 'ISO 8601, UTC' });

const verifyModeSchema = z.enum(VERIFY_MODES);

/** A task as the API answers it. */
export const taskViewSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(TASK_STATES),
    /** Incremented on every change of the definition. */
    revision: z.int(),
    definition: z.record(z.string(), z.unknown()).meta({ description: 'the TaskDefinition as given' }),
    precheck: z.object({
      revision: z.int().nullable(),
      startedAt: iso().nullable(),
      finishedAt: iso().nullable(),
      /** The last precheck read the current definition. */
      current: z.boolean(),
    }),
    ignoredItems: z.array(z.string()),
    /** `verify.schedule` with its defaults ([V7]), null without one. */
    verifySchedule: z
      .object({
        everyMinutes: z.int(),
        mode: verifyModeSchema,
        tables: z.array(z.string()).nullable().meta({ description: 'destination tables; null: all' }),
        /** Whether the task's state lets the schedule queue jobs now. */
        active: z.boolean(),
        /** Why not, when not active. */
        inactiveReason: z.string().nullable(),
      })
      .nullable(),
    startedAt: iso().nullable(),
    workerId: z.string().nullable(),
    lastError: lastErrorSchema.nullable(),
    stateChangedAt: iso(),
    createdAt: iso(),
    updatedAt: iso(),
  })
  .meta({ id: 'Task' });

/** The API's view of a task. */
export type TaskView = z.output<typeof taskViewSchema>;

const precheckItemSchema = z.object({
  id: z.string(),
  title: z.string(),
  status: z.enum(['pass', 'warn', 'fail']),
  message: z.string(),
  fix: z.string().optional(),
  ignorable: z.boolean(),
  ignored: z.boolean(),
});

/** The precheck report of a task. */
export const precheckReportSchema = z
  .object({
    taskId: z.string(),
    state: z.enum(TASK_STATES),
    /** No item fails and every warning is ignored, for the current definition. */
    passed: z.boolean(),
    revision: z.int().nullable(),
    current: z.boolean(),
    finishedAt: iso().nullable(),
    items: z.array(precheckItemSchema),
  })
  .meta({ id: 'PrecheckReport' });

const alertViewSchema = z.object({
  rule: z.string(),
  state: z.enum(['firing', 'resolved']),
  since: iso(),
  message: z.string(),
  deliveredAt: iso().nullable(),
  deliveryError: z.string().nullable(),
});

/** What the task list shows of a task's run: from the status its worker last wrote (null before). */
const taskSummarySchema = z.object({
  phase: z.enum(RUN_PHASES).nullable(),
  /** Source WAL position minus the flushed LSN, bytes. */
  lagBytes: z.number().nullable(),
  /** Now minus the commit time of the last applied transaction, ms. */
  lagMs: z.number().nullable(),
  /** Rows per second of the phase running (full or incremental). */
  rowsPerSecond: z.number().nullable(),
  /** When the worker last wrote the status. */
  statusAt: iso().nullable(),
});

/** An item of `GET /api/v1/tasks`: the task and a summary of its run (one store query for the list). */
export const taskListItemSchema = taskViewSchema
  .extend({ summary: taskSummarySchema })
  .meta({ id: 'TaskListItem' });

/** An item of `GET /api/v1/tasks`. */
export type TaskListItem = z.output<typeof taskListItemSchema>;

/** The run summary of a stored task (what its worker last wrote). */
function summaryOf(t: StoredTask): z.output<typeof taskSummarySchema> {
  const run = t.status;
  const incremental = run?.phase === 'incremental';
  return {
    phase: run?.phase ?? null,
    lagBytes: run?.lagBytes ?? null,
    lagMs: run?.lagMs ?? null,
    rowsPerSecond: run === null ? null : incremental ? run.incremental.rowsPerSecond : run.full.rowsPerSecond,
    statusAt: t.statusAt?.toISOString() ?? null,
  };
}

/** `GET .../status`. */
export const taskStatusSchema = z
  .object({
    id: z.string(),
    name: z.string(),
    state: z.enum(TASK_STATES),
    phase: z.enum(RUN_PHASES).nullable(),
    /** Source WAL position minus the flushed LSN, bytes. */
    lagBytes: z.number().nullable(),
    /** Now minus the commit time of the last applied transaction, ms. */
    lagMs: z.number().nullable(),
    /** Rows per second of the phase running (full or incremental). */
    rowsPerSecond: z.number().nullable(),
    bytesPerSecond: z.number().nullable(),
    retainedWalBytes: z.number().nullable(),
    lastError: lastErrorSchema.nullable(),
    workerId: z.string().nullable(),
    /** When the worker last wrote the status. */
    statusAt: iso().nullable(),
    errorsTotal: z.number(),
    retriesTotal: z.number(),
    run: runStatusSchema.nullable(),
    alerts: z.array(alertViewSchema),
  })
  .meta({ id: 'TaskStatus' });

const tableViewSchema = z.object({
  table: z.string(),
  /** `copying`, `copied` (full sync done for it), `streaming` (incremental sync runs). */
  phase: z.enum(['copying', 'copied', 'streaming']),
  rows: z.number(),
  bytes: z.number(),
  estimatedRows: z.number(),
  /** rows / estimatedRows while copying (0..1), 1 when copied; null without an estimate. */
  progress: z.number().nullable(),
  rangesDone: z.int(),
  rangesTotal: z.int(),
});

const logLineSchema = z.object({
  seq: z.number(),
  time: iso(),
  level: z.string(),
  message: z.string(),
  fields: z.record(z.string(), z.unknown()),
});

const idParams = z.strictObject({ id: taskId });

const rowValuesSchema = z.array(z.string().nullable()).meta({
  description: "column values as text (NULL as null), in the order of the table result's columns",
});
const rowKeySchema = z.array(z.string().nullable()).meta({
  description: "the row's key as text, in the order of keyColumns (absent for a keyless table)",
});
const copiesSchema = z
  .object({ source: z.number().int(), destination: z.number().int() })
  .meta({ description: 'copies of the row on each side (keyless tables compare as multisets)' });

/** One differing row of a `rows` verification ([V1], [V2]): the verify report's RowDifference. */
const differingRowSchema = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('missing'),
    key: rowKeySchema.optional(),
    source: rowValuesSchema,
    copies: copiesSchema,
  }),
  z.object({
    kind: z.literal('extra'),
    key: rowKeySchema.optional(),
    destination: rowValuesSchema,
    copies: copiesSchema,
  }),
  z.object({
    kind: z.literal('different'),
    key: rowKeySchema,
    source: rowValuesSchema,
    destination: rowValuesSchema,
    columns: z.array(z.number().int()).meta({ description: 'indexes of the differing columns' }),
  }),
]);

/** One table of a verification ([V6]); row counts in rows, `durationMs` in milliseconds. */
const tableVerificationSchema = z.object({
  table: z.string().meta({ description: 'destination schema.table' }),
  sourceRows: z.number().int(),
  destinationRows: z.number().int(),
  differences: z.number().int().meta({
    description:
      'rows mode: differing rows found; count and hash: at least the row count difference, 1 when only content differs',
  }),
  differingRows: z
    .array(differingRowSchema)
    .optional()
    .meta({ description: 'rows mode: the differing rows (at most 100)' }),
  columns: z.array(z.string()).optional().meta({
    description: "with differingRows: the compared destination columns, in the order of a row's values",
  }),
  keyColumns: z.array(z.string()).optional().meta({
    description: "with differingRows: the key columns (empty when keyless), in the order of a row's key",
  }),
  truncated: z
    .boolean()
    .optional()
    .meta({ description: 'with differingRows: more rows differ than were listed' }),
  durationMs: z.number(),
  status: z.enum(['passed', 'failed', 'error']),
  error: z.string().optional(),
});

/** A verification job of a task ([V6]). */
export const verificationSchema = z
  .object({
    id: z.string(),
    taskId: z.string(),
    mode: verifyModeSchema,
    tables: z.array(z.string()).nullable(),
    chunkRows: z.int().nullable().meta({ description: 'rows per compared key chunk; null: the default' }),
    trigger: z.enum(VERIFICATION_TRIGGERS).meta({
      description:
        'request (POST .../verify), schedule (verify.schedule) or sample (continuous verification: sampled changed rows that differed)',
    }),
    status: z.enum(VERIFICATION_STATUSES),
    createdAt: z.string(),
    startedAt: z.string().nullable(),
    finishedAt: z.string().nullable(),
    error: z.string().nullable(),
    results: z.array(tableVerificationSchema).nullable().meta({
      description:
        'per table: while running, the tables finished so far; when cancelled, those finished before',
    }),
    cancelRequestedAt: z.string().nullable().meta({ description: 'when a cancel was asked for' }),
  })
  .meta({ id: 'Verification' });

/** `POST .../verify` body. */
const verifyBodySchema = z
  .strictObject({
    mode: verifyModeSchema.optional(),
    tables: z
      .array(z.string().regex(/^[^.\s]+\.[^.\s]+$/, { error: 'must be a destination schema.table' }))
      .min(1)
      .optional(),
    chunkRows: z
      .int()
      .min(1)
      .max(10_000_000)
      .optional()
      .meta({ description: 'rows per compared key chunk (default 100 000); progress is saved after each' }),
  })
  .meta({ id: 'VerifyRequest' });

function verificationViewOf(v: StoredVerification): z.output<typeof verificationSchema> {
  const d = (x: Date | null): string | null => x?.toISOString() ?? null;
  return {
    id: v.id,
    taskId: v.taskId,
    mode: v.mode,
    status: v.status,
    error: v.error,
    tables: v.tables === null ? null : [...v.tables],
    chunkRows: v.chunkRows,
    trigger: v.trigger,
    createdAt: v.createdAt.toISOString(),
    startedAt: d(v.startedAt),
    finishedAt: d(v.finishedAt),
    cancelRequestedAt: d(v.cancelRequestedAt),
    results:
      v.results === null
        ? null
        : v.results.map(({ differingRows, columns, keyColumns, ...r }) => ({
            ...r,
            // Stored as the verify report's RowDifference objects (run-verification.ts); the
            // response schema checks them on the way out.
            ...(differingRows === undefined
              ? {}
              : { differingRows: [...differingRows] as z.output<typeof differingRowSchema>[] }),
            ...(columns === undefined ? {} : { columns: [...columns] }),
            ...(keyColumns === undefined ? {} : { keyColumns: [...keyColumns] }),
          })),
  };
}

/** `GET .../precheck`, `POST .../precheck`. */
export type PrecheckReport = z.output<typeof precheckReportSchema>;
/** `GET .../verifications/{vid}`, an item of `GET .../verifications`, `POST .../verify` ([V6]). */
export type Verification = z.output<typeof verificationSchema>;
/** `GET .../status`. */
export type TaskStatus = z.output<typeof taskStatusSchema>;
/** `GET .../alerts`: each state an alert entered, newest first. */
export interface TaskAlerts {
  readonly items: z.output<typeof alertViewSchema>[];
}
/** `GET .../tables`. */
export interface TaskTables {
  readonly items: z.output<typeof tableViewSchema>[];
}
/** `GET .../logs`. */
export interface TaskLogs {
  readonly items: z.output<typeof logLineSchema>[];
  readonly next: number;
}

/** The view of a stored task. */
export function taskViewOf(t: StoredTask): TaskView {
  const d = (x: Date | null) => (x === null ? null : x.toISOString());
  return {
    id: t.id,
    name: t.name,
    state: t.state,
    revision: t.revision,
    definition: t.definition,
    precheck: {
      revision: t.precheckRevision,
      startedAt: d(t.precheckStartedAt),
      finishedAt: d(t.precheckFinishedAt),
      current: t.precheckRevision === t.revision && t.precheckFinishedAt !== null,
    },
    ignoredItems: [...t.ignoredItems],
    verifySchedule: verifyScheduleViewOf(t),
    startedAt: d(t.startedAt),
    workerId: t.workerId,
    lastError: t.lastError,
    stateChangedAt: t.stateChangedAt.toISOString(),
    createdAt: t.createdAt.toISOString(),
    updatedAt: t.updatedAt.toISOString(),
  };
}

function verifyScheduleViewOf(t: StoredTask): TaskView['verifySchedule'] {
  const schedule = scheduleOf(t);
  if (schedule === undefined) return null;
  const e = scheduleEligibility(t);
  return {
    everyMinutes: schedule.everyMinutes,
    mode: schedule.mode,
    tables: schedule.tables === undefined ? null : [...schedule.tables],
    active: e.eligible,
    inactiveReason: e.eligible ? null : e.reason,
  };
}

function precheckViewOf(p: PrecheckOutcomeView): z.output<typeof precheckReportSchema> {
  const t = p.task;
  return {
    taskId: t.id,
    state: t.state,
    passed: t.state === 'precheck-passed' && t.precheckRevision === t.revision,
    revision: t.precheckRevision,
    current: t.precheckRevision === t.revision && t.precheckFinishedAt !== null,
    finishedAt: t.precheckFinishedAt?.toISOString() ?? null,
    items: p.items.map((i) => ({
      id: i.id,
      title: i.title,
      status: i.status,
      message: i.message,
      ...(i.fix !== undefined ? { fix: i.fix } : {}),
      ignorable: i.ignorable,
      ignored: i.ignored,
    })),
  };
}

function alertView(a: StoredAlert): z.output<typeof alertViewSchema> {
  return {
    rule: a.rule,
    state: a.state,
    since: a.since.toISOString(),
    message: a.message,
    deliveredAt: a.deliveredAt?.toISOString() ?? null,
    deliveryError: a.deliveryError,
  };
}

/** Registers the task routes on `app`. */
export function registerTaskRoutes(
  app: FastifyInstance,
  store: ControlStore,
  verifications?: VerificationRunner,
): void {
  const r = app.withTypeProvider<ZodTypeProvider>();
  const service = new TaskService(store, verifications);

  r.get(
    '/api/v1/tasks',
    { schema: { response: { 200: z.object({ items: z.array(taskListItemSchema) }), ...errors } } },
    // The stored task row holds the status its worker last wrote: one query answers the whole list
    // (the console polls it instead of /status per task).
    async () => ({
      items: (await store.tasks.list()).map((t) => ({ ...taskViewOf(t), summary: summaryOf(t) })),
    }),
  );
  r.post(
    '/api/v1/tasks',
    {
      // zod validates the shape (and documents it); the definition is stored as given, before defaults.
      preValidation: (req, _reply, done) => {
        (req as { rawBody?: unknown }).rawBody = structuredClone(req.body);
        done();
      },
      schema: { body: taskDefinitionSchema, response: { 201: taskViewSchema, ...errors } },
    },
    async (req, reply) => {
      const t = await service.create((req as { rawBody?: unknown }).rawBody);
      return reply.code(201).send(taskViewOf(t));
    },
  );
  r.get(
    '/api/v1/tasks/:id',
    { schema: { params: idParams, response: { 200: taskViewSchema, ...errors } } },
    async (req) => taskViewOf(await service.get(req.params.id)),
  );
  r.patch(
    '/api/v1/tasks/:id',
    {
      schema: {
        params: idParams,
        body: z.record(z.string(), z.unknown()).meta({
          description:
            'a JSON merge patch (RFC 7396) of the TaskDefinition: null removes a key; name, alerts, full.throttle, incremental.throttle and verify change while the task runs, any other key needs it stopped and moves it back to created',
        }),
        response: { 200: taskViewSchema, ...errors },
      },
    },
    async (req) => taskViewOf(await service.patch(req.params.id, req.body)),
  );
  r.delete(
    '/api/v1/tasks/:id',
    { schema: { params: idParams, response: { 204: z.null(), ...errors } } },
    async (req, reply) => {
      await service.delete(req.params.id);
      return reply.code(204).send(null);
    },
  );
  r.post(
    '/api/v1/tasks/:id/precheck',
    { schema: { params: idParams, response: { 200: precheckReportSchema, ...errors } } },
    async (req) => precheckViewOf(await service.precheck(req.params.id)),
  );
  r.post(
    '/api/v1/tasks/:id/verify',
    {
      schema: {
        params: idParams,
        body: verifyBodySchema.optional(),
        response: { 202: verificationSchema, ...errors },
      },
    },
    async (req, reply) => {
      const body = req.body ?? {};
      const job = await service.verify(req.params.id, body.mode ?? 'hash', body.tables, body.chunkRows);
      return reply.code(202).send(verificationViewOf(job));
    },
  );
  r.get(
    '/api/v1/tasks/:id/verifications',
    { schema: { params: idParams, response: { 200: z.array(verificationSchema), ...errors } } },
    async (req) => (await service.verifications(req.params.id)).map(verificationViewOf),
  );
  r.get(
    '/api/v1/tasks/:id/verifications/:verificationId',
    {
      schema: {
        params: z.strictObject({
          id: taskId,
          verificationId: z.uuid({ error: 'must be a verification id' }),
        }),
        response: { 200: verificationSchema, ...errors },
      },
    },
    async (req) => verificationViewOf(await service.verification(req.params.id, req.params.verificationId)),
  );
  r.post(
    '/api/v1/tasks/:id/verifications/:verificationId/cancel',
    {
      schema: {
        description:
          'cancel a verification [V12]: a queued one is cancelled at once (200); a running one gets the cancel recorded (202) and ends cancelled within about a second, keeping the results of its finished tables; 409 when it has ended',
        params: z.strictObject({
          id: taskId,
          verificationId: z.uuid({ error: 'must be a verification id' }),
        }),
        response: { 200: verificationSchema, 202: verificationSchema, ...errors },
      },
    },
    async (req, reply) => {
      const v = await service.cancelVerification(req.params.id, req.params.verificationId);
      return reply.code(v.status === 'cancelled' ? 200 : 202).send(verificationViewOf(v));
    },
  );
  r.get(
    '/api/v1/tasks/:id/precheck',
    { schema: { params: idParams, response: { 200: precheckReportSchema, ...errors } } },
    async (req) => precheckViewOf(await service.precheckReport(req.params.id)),
  );
  r.post(
    '/api/v1/tasks/:id/precheck/items/:item/ignore',
    {
      schema: {
        params: z.strictObject({
          id: taskId,
          item: z.string().regex(/^[a-z0-9-]{1,64}$/, { error: 'must be a precheck item id' }),
        }),
        response: { 200: taskViewSchema, ...errors },
      },
    },
    async (req) => taskViewOf(await service.ignore(req.params.id, req.params.item)),
  );
  for (const action of ['start', 'pause', 'resume'] as const) {
    r.post(
      `/api/v1/tasks/:id/${action}`,
      { schema: { params: idParams, response: { 200: taskViewSchema, ...errors } } },
      async (req) => taskViewOf(await service.act(req.params.id, action)),
    );
  }
  r.post(
    '/api/v1/tasks/:id/release',
    {
      schema: {
        params: idParams,
        response: {
          200: z.object({
            task: taskViewSchema,
            slotDropped: z.boolean(),
            publicationDropped: z.boolean(),
            ddlCaptureDropped: z.boolean(),
          }),
          ...errors,
        },
      },
    },
    async (req) => {
      const { task, report } = await service.release(req.params.id);
      return {
        task: taskViewOf(task),
        slotDropped: report?.slotDropped ?? false,
        publicationDropped: report?.publicationDropped ?? false,
        ddlCaptureDropped: report?.ddlCaptureDropped ?? false,
      };
    },
  );
  r.get(
    '/api/v1/tasks/:id/status',
    { schema: { params: idParams, response: { 200: taskStatusSchema, ...errors } } },
    async (req) => {
      const t = await service.get(req.params.id);
      const run = t.status;
      const incremental = run?.phase === 'incremental';
      return {
        id: t.id,
        name: t.name,
        state: t.state,
        phase: run?.phase ?? null,
        lagBytes: run?.lagBytes ?? null,
        lagMs: run?.lagMs ?? null,
        rowsPerSecond:
          run === null ? null : incremental ? run.incremental.rowsPerSecond : run.full.rowsPerSecond,
        bytesPerSecond:
          run === null ? null : incremental ? run.incremental.bytesPerSecond : run.full.bytesPerSecond,
        retainedWalBytes: run?.retainedWalBytes ?? null,
        lastError: t.lastError,
        workerId: t.workerId,
        statusAt: t.statusAt?.toISOString() ?? null,
        errorsTotal: t.errorsTotal,
        retriesTotal: t.retriesTotal,
        run,
        alerts: (await store.tasks.alerts(t.id)).map(alertView),
      };
    },
  );
  r.get(
    '/api/v1/tasks/:id/alerts',
    {
      schema: {
        params: idParams,
        querystring: z.strictObject({
          limit: z.coerce
            .number({ error: 'must be a number' })
            .int()
            .min(1, { error: 'must be 1-1000' })
            .max(1000, { error: 'must be 1-1000' })
            .default(100),
        }),
        response: { 200: z.object({ items: z.array(alertViewSchema) }), ...errors },
      },
    },
    async (req) => {
      const t = await service.get(req.params.id);
      return { items: (await store.tasks.alertHistory(t.id, req.query.limit)).map(alertView) };
    },
  );
  r.get(
    '/api/v1/tasks/:id/tables',
    {
      schema: {
        params: idParams,
        response: { 200: z.object({ items: z.array(tableViewSchema) }), ...errors },
      },
    },
    async (req) => {
      const t = await service.get(req.params.id);
      const streaming = t.status?.phase === 'incremental';
      const items = (await store.tasks.tables(t.id)).map((x) => ({
        table: x.table,
        phase: !x.done ? ('copying' as const) : streaming ? ('streaming' as const) : ('copied' as const),
        rows: x.rows,
        bytes: x.bytes,
        estimatedRows: x.estimatedRows,
        progress: x.done ? 1 : x.estimatedRows > 0 ? Math.min(1, x.rows / x.estimatedRows) : null,
        rangesDone: x.rangesDone,
        rangesTotal: x.rangesTotal,
      }));
      return { items };
    },
  );
  r.get(
    '/api/v1/tasks/:id/logs',
    {
      schema: {
        params: idParams,
        querystring: z.strictObject({
          since: z.iso
            .datetime({
              offset: true,
              error: 'must be an ISO 8601 time with offset, e.g. 2026-12-02T10:00:00Z',
            })
            .optional()
            .meta({ description: 'lines at or after this time' }),
          after: z.coerce.number({ error: 'must be a line sequence number' }).int().min(0).optional().meta({
            description: 'lines after this seq (the `next` of the previous answer), to follow a log',
          }),
          limit: z.coerce.number().int().min(1).max(10_000).default(1000),
        }),
        response: { 200: z.object({ items: z.array(logLineSchema), next: z.number() }), ...errors },
      },
    },
    async (req) => {
      const t = await service.get(req.params.id);
      const lines = await store.tasks.logs(t.id, {
        limit: req.query.limit,
        ...(req.query.after !== undefined ? { afterSeq: req.query.after } : {}),
        ...(req.query.since !== undefined ? { since: new Date(req.query.since) } : {}),
      });
      return {
        items: lines.map((l) => ({ ...l, time: l.time.toISOString(), fields: { ...l.fields } })),
        next: lines.at(-1)?.seq ?? req.query.after ?? 0,
      };
    },
  );
}
