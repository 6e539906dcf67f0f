/**
 * Executes planned DDL on the destination, idempotently: a statement whose object already exists is
 * skipped (reported as `exists`), so re-running a sync after a crash succeeds. Plain statements go
 * in batches of consecutive ones, each batch one multi-statement round trip and one transaction
 * (thousands of tables would otherwise cost a round trip and a commit each); a batch that fails is
 * rolled back whole and its statements run again one at a time in autocommit mode, so a failed
 * statement leaves nothing behind and nothing before it is undone. SQLSTATEs: PostgreSQL docs,
 * Appendix A "PostgreSQL Error Codes".
 */
import type pg from 'pg';
import { PgdtsError } from '../../../core/errors.ts';
import { wrapPgError } from '../../../pg/connection.ts';
import { quoteLiteral } from '../../../core/identifier.ts';
import type { DdlStatement } from './plan-schema-ddl.ts';

/** What happened to one statement. */
export type DdlOutcome =
  /** Executed. */
  | 'applied'
  /** Its object already existed (duplicate_* SQLSTATE): skipped. */
  | 'exists'
  /**
   * Skipped with a warning: CREATE EXTENSION of an extension the destination does not have, a
   * statement naming roles the destination does not have (a policy `TO role`: refused, see
   * {@link DdlStatement.requiresRoles}), a `LANGUAGE c` / `internal` function the destination user
   * may not create (not superuser) or whose code the destination lacks (library or built-in
   * function missing), and what needs such a function ({@link DdlStatement.needsNative}).
   */
  | 'unavailable';

/** A report after each statement. */
export interface DdlEvent {
  readonly statement: DdlStatement;
  /** The statement's kind and object (copied from it, so the event is a SchemaEvent). */
  readonly kind: DdlStatement['kind'];
  readonly object: string;
  readonly outcome: DdlOutcome;
  /** Wall time of the statement, ms. */
  readonly elapsedMs: number;
  /** Human-readable line for the log, e.g. `table "s"."t" already exists, skipped`. */
  readonly message: string;
  /**
   * An owner, grant or default privileges statement skipped (`unavailable`) because these roles do
   * not exist on the destination, sorted: reported once per role rather than once per object.
   */
  readonly missingRoles?: readonly string[];
}

/** Options of {@link applySchemaDdl}. */
export interface ApplySchemaDdlOptions {
  /** Called after each statement (also for skipped ones). */
  readonly onStatement?: (e: DdlEvent) => void;
}

// 42P06 duplicate_schema, 42P07 duplicate_table (any relation, indexes too), 42710 duplicate_object
// (types, constraints, triggers), 42723 duplicate_function.
const DUPLICATE = new Set(['42P06', '42P07', '42710', '42723']);
// 42P16 invalid_table_definition: "multiple primary keys for table ... are not allowed".
const DUPLICATE_PK = '42P16';
// 40P01 deadlock_detected, 40001 serialization_failure: parallel foreign keys lock both tables.
const RETRY = new Set(['40P01', '40001']);

/**
 * Prepares a destination session for DDL: empty search_path (every name in the plan is qualified,
 * as pg_dump does) and `check_function_bodies = off`, so SQL-language functions referring to tables
 * created later are accepted (PostgreSQL docs, "Client Connection Defaults").
 * @returns a function restoring the previous settings, so a connection shared with other phases is
 *   left as it was.
 */
export async function prepareDdlSession(client: pg.Client): Promise<() => Promise<void>> {
  const r = await client.query<{ sp: string; cfb: string; cmm: string }>(
    "SELECT current_setting('search_path') AS sp, current_setting('check_function_bodies') AS cfb, current_setting('client_min_messages') AS cmm",
  );
  const old = r.rows[0];
  await client.query(
    "SELECT set_config('search_path', '', false), set_config('check_function_bodies', 'off', false), set_config('client_min_messages', 'warning', false)",
  );
  return async () => {
    if (!old) return;
    await client.query(
      "SELECT set_config('search_path', $1, false), set_config('check_function_bodies', $2, false), set_config('client_min_messages', $3, false)",
      [old.sp, old.cfb, old.cmm],
    );
  };
}

// Why CREATE FUNCTION of C / internal code fails on a destination that cannot have it: 42501
// insufficient_privilege (`permission denied for language c`: not superuser), 58P01 undefined_file
// (the library is missing), 42883 undefined_function (no such symbol in it, no such built-in).
const NATIVE_REFUSAL = new Set(['42501', '58P01', '42883']);

/**
 * Roles seen to exist on the destination during one run of statements: owner and grant statements
 * name the same few roles thousands of times, so each is looked up once.
 */
type KnownRoles = Set<string>;

/** `LANGUAGE c` / `internal` function and superuser-only statements refused in one run, by id. */
type RefusedNative = Map<string, { readonly object: string; readonly reason: string }>;

/** The reason a native function could not be created, for the report. */
function nativeRefusalReason(s: DdlStatement, e: unknown): string {
  const what =
    s.native?.language === 'c'
      ? `is written in C (library ${JSON.stringify(s.native.library)}, symbol ${JSON.stringify(s.native.symbol)}): creating it needs a superuser on the destination and that library installed there`
      : `is a LANGUAGE internal function (${JSON.stringify(s.native?.symbol ?? '')}): creating it needs a superuser on the destination and a server that has that built-in function`;
  return `${what}; the destination said: ${e instanceof Error ? e.message : String(e)}`;
}

async function runOne(
  client: pg.Client,
  s: DdlStatement,
  known: KnownRoles = new Set(),
  refusedNative: RefusedNative = new Map(),
): Promise<DdlEvent> {
  const started = Date.now();
  const event = (outcome: DdlOutcome, message: string): DdlEvent => ({
    statement: s,
    kind: s.kind,
    object: s.object,
    outcome,
    elapsedMs: Date.now() - started,
    message,
  });
  const blocked = (s.needsNative ?? []).map((id) => refusedNative.get(id)).find((x) => x !== undefined);
  if (blocked !== undefined) {
    refusedNative.set(s.id, blocked);
    return event(
      'unavailable',
      `WARNING: ${s.object} refused: it needs ${blocked.object}, which was refused (${blocked.object} ${blocked.reason})`,
    );
  }
  if (s.extension !== undefined) {
    const r = await client
      .query('SELECT 1 FROM pg_available_extensions WHERE name = $1', [s.extension])
      .catch((e: unknown) => {
        throw wrapPgError('SCHEMA_SYNC_FAILED', `checking ${s.object}`, e);
      });
    if (r.rowCount === 0) {
      return event('unavailable', `WARNING: ${s.object} is not available on the destination, skipped`);
    }
  }
  const unknownRoles = (s.requiresRoles ?? []).filter((n) => !known.has(n));
  if (unknownRoles.length > 0) {
    const r = await client
      .query<{ missing: string[] }>(
        'SELECT ARRAY(SELECT n FROM unnest($1::text[]) n WHERE NOT EXISTS (SELECT 1 FROM pg_catalog.pg_roles r WHERE r.rolname = n) ORDER BY n) AS missing',
        [unknownRoles],
      )
      .catch((e: unknown) => {
        throw wrapPgError('SCHEMA_SYNC_FAILED', `checking the roles of ${s.object}`, e);
      });
    const missing = r.rows[0]?.missing ?? [];
    for (const n of unknownRoles) if (!missing.includes(n)) known.add(n);
    if (missing.length > 0 && (s.kind === 'owner' || s.kind === 'grant' || s.kind === 'default-privileges')) {
      // pgdts never creates roles: the precheck prints CREATE ROLE statements for a DBA to review.
      const roles = missing.map((m) => JSON.stringify(m)).join(', ');
      return {
        ...event(
          'unavailable',
          `${s.object}: ${s.kind} skipped, role(s) ${roles} missing on the destination`,
        ),
        missingRoles: missing,
      };
    }
    if (missing.length > 0) {
      return event(
        'unavailable',
        `WARNING: ${s.object} refused: role${missing.length === 1 ? '' : 's'} ${missing.map((m) => JSON.stringify(m)).join(', ')} ${missing.length === 1 ? 'does' : 'do'} not exist on the destination; create ${missing.length === 1 ? 'it' : 'them'} and re-run schema sync`,
      );
    }
  }
  if (s.skipIf !== undefined) {
    const r = await client.query(s.skipIf).catch((e: unknown) => {
      throw wrapPgError('SCHEMA_SYNC_FAILED', `checking ${s.object}`, e);
    });
    if ((r.rowCount ?? 0) > 0) return event('exists', `${s.object}: ${s.kind} already done, skipped`);
  }
  for (let attempt = 1; ; attempt++) {
    try {
      await client.query(s.sql);
      return event('applied', `${s.object}: ${s.kind} applied`);
    } catch (e) {
      const code = (e as { code?: unknown }).code;
      if (typeof code === 'string') {
        if (DUPLICATE.has(code) || (code === DUPLICATE_PK && s.kind === 'primary-key')) {
          return event('exists', `${s.object} already exists, skipped`);
        }
        if (RETRY.has(code) && attempt < 5) continue;
        if (s.superuserOnly === true && code === '42501') {
          const reason = `needs a superuser on the destination to be created; the destination said: ${(e as Error).message}`;
          refusedNative.set(s.id, { object: s.object, reason });
          return event('unavailable', `WARNING: ${s.object} refused: it ${reason}`);
        }
        if (s.native !== undefined && NATIVE_REFUSAL.has(code)) {
          const reason = nativeRefusalReason(s, e);
          refusedNative.set(s.id, { object: s.object, reason });
          return event('unavailable', `WARNING: ${s.object} refused: it ${reason}`);
        }
      }
      const err = wrapPgError('SCHEMA_SYNC_FAILED', `${s.kind} for ${s.object} failed`, e);
      throw new PgdtsError('SCHEMA_SYNC_FAILED', `${err.message}\nstatement: ${s.sql}`, {
        retryable: err.retryable,
        retryWindow: err.retryWindow,
        cause: e,
        ...(err.sqlState !== undefined ? { sqlState: err.sqlState } : {}),
      });
    }
  }
}

/**
 * Most statements sent in one multi-statement round trip. A batch runs as one transaction holding
 * each of its objects' locks until it ends (in a lock table shared by all sessions: PostgreSQL
 * docs, "Lock Management"), and a failed batch is run again one statement at a time.
 */
export const DDL_BATCH_MAX_STATEMENTS = 50;
/** Most SQL characters in one batch. */
const DDL_BATCH_MAX_CHARS = 256 * 1024;

// Kinds whose statements may share a transaction with others: plain CREATE / ALTER statements that
// report an existing object with a duplicate_* SQLSTATE (or, for those that do not, are only
// batched without a skipIf), none of which refuses to run inside a transaction block.
const BATCHABLE_KINDS = new Set<DdlStatement['kind']>([
  'table',
  'alter-table',
  'sequence',
  'owned-by',
  'view',
  'comment',
  'primary-key',
  'constraint',
  'index',
  'attach-index',
  'foreign-key',
  'trigger',
  'statistics',
]);

/**
 * Whether a statement may go in a batch: a plain statement of a batchable kind, without any check
 * the runner makes before it (extension, roles, skipIf, native code), whose outcome is then only
 * "applied" or an error.
 */
function batchable(s: DdlStatement): boolean {
  return (
    BATCHABLE_KINDS.has(s.kind) &&
    s.extension === undefined &&
    s.skipIf === undefined &&
    (s.requiresRoles ?? []).length === 0 &&
    s.native === undefined &&
    s.superuserOnly !== true &&
    (s.needsNative ?? []).length === 0
  );
}

/**
 * Runs `batch` (batchable statements, see {@link batchable}) in one round trip: a multi-statement
 * query, which PostgreSQL runs as one transaction (PostgreSQL docs, "Multiple Statements in a
 * Simple Query"), so it either applies every statement or none. Thousands of tables then cost a
 * round trip and a commit per batch rather than per statement. When it fails (an object exists
 * already on a re-run, a deadlock between parallel batches, any error), nothing of it stays and its
 * statements run again one at a time, each with the outcome and error it would have had alone.
 * @returns one event per statement, in order.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED as {@link applySchemaDdl}.
 */
async function runBatch(
  client: pg.Client,
  batch: readonly DdlStatement[],
  known: KnownRoles,
  refusedNative: RefusedNative,
  onEvent: (e: DdlEvent) => void,
): Promise<void> {
  const [only] = batch;
  if (batch.length === 1 && only !== undefined) {
    onEvent(await runOne(client, only, known, refusedNative));
    return;
  }
  const started = Date.now();
  // A newline before each separator: a statement ending in a -- comment keeps its semicolon.
  const ok = await client.query(batch.map((s) => s.sql).join('\n;\n')).then(
    () => true,
    () => false,
  );
  if (ok) {
    const elapsedMs = (Date.now() - started) / batch.length;
    for (const s of batch) {
      onEvent({
        statement: s,
        kind: s.kind,
        object: s.object,
        outcome: 'applied',
        elapsedMs,
        message: `${s.object}: ${s.kind} applied`,
      });
    }
    return;
  }
  for (const s of batch) onEvent(await runOne(client, s, known, refusedNative));
}

/**
 * Cuts `statements` (in order) into runs for {@link runBatch}: consecutive batchable statements up to
 * {@link DDL_BATCH_MAX_STATEMENTS} and {@link DDL_BATCH_MAX_CHARS}, any other statement alone.
 */
function batchesOf(statements: readonly DdlStatement[]): DdlStatement[][] {
  const out: DdlStatement[][] = [];
  let cur: DdlStatement[] = [];
  let chars = 0;
  for (const s of statements) {
    if (!batchable(s)) {
      if (cur.length > 0) out.push(cur);
      out.push([s]);
      cur = [];
      chars = 0;
      continue;
    }
    if (
      cur.length >= DDL_BATCH_MAX_STATEMENTS ||
      (cur.length > 0 && chars + s.sql.length > DDL_BATCH_MAX_CHARS)
    ) {
      out.push(cur);
      cur = [];
      chars = 0;
    }
    cur.push(s);
    chars += s.sql.length;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/**
 * Runs statements in order on one connection (use for `preData`, or `postData` without parallelism).
 * Prepares the session with {@link prepareDdlSession} first and restores its settings afterwards.
 * @returns one event per statement.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED naming the statement's object, its SQL and the server error.
 */
export async function applySchemaDdl(
  client: pg.Client,
  statements: readonly DdlStatement[],
  options: ApplySchemaDdlOptions = {},
): Promise<DdlEvent[]> {
  const restore = await prepareDdlSession(client);
  const events: DdlEvent[] = [];
  const known: KnownRoles = new Set();
  const refusedNative: RefusedNative = new Map();
  try {
    for (const batch of batchesOf(statements)) {
      await runBatch(client, batch, known, refusedNative, (e) => {
        events.push(e);
        options.onStatement?.(e);
      });
    }
  } finally {
    await restore().catch(() => undefined);
  }
  return events;
}

/**
 * Runs independent statements (typically `postData`: index builds, foreign keys, refreshes) on
 * several connections at once, each statement starting once every statement it depends on
 * (`dependsOn`, ids outside `statements` count as done) has finished. Stops starting new statements
 * at the first failure, waits for running ones, then throws that failure.
 * @throws {PgdtsError} SCHEMA_SYNC_FAILED as {@link applySchemaDdl}.
 */
export async function applySchemaDdlParallel(
  clients: readonly pg.Client[],
  statements: readonly DdlStatement[],
  options: ApplySchemaDdlOptions = {},
): Promise<DdlEvent[]> {
  if (clients.length === 0)
    throw new PgdtsError('INTERNAL', 'applySchemaDdlParallel needs at least one connection');
  const restores = await Promise.all(clients.map(prepareDdlSession));
  const known = new Set(statements.map((s) => s.id));
  const done = new Set<string>();
  const started = new Set<string>();
  const events: DdlEvent[] = [];
  let failure: Error | undefined;
  let wake: (() => void) | undefined;
  // Every statement before `firstOpen` has started: the search for ready ones starts there, so
  // thousands of statements are not scanned from the top for each one.
  let firstOpen = 0;
  const isReady = (s: DdlStatement) =>
    !started.has(s.id) && s.dependsOn.every((d) => done.has(d) || !known.has(d));
  /**
   * The next statements a connection runs in one round trip: the first ready statement and, when it
   * is batchable, the ready batchable statements after it, up to a fair share of what is left per
   * connection (so the last ones still spread over all connections).
   */
  const nextBatch = (): DdlStatement[] => {
    while (firstOpen < statements.length && started.has(statements[firstOpen]?.id ?? '')) firstOpen++;
    const batch: DdlStatement[] = [];
    const left = statements.length - started.size;
    const most = Math.max(1, Math.min(DDL_BATCH_MAX_STATEMENTS, Math.ceil(left / clients.length)));
    let chars = 0;
    for (let i = firstOpen; i < statements.length && batch.length < most; i++) {
      const s = statements[i];
      if (s === undefined || !isReady(s)) continue;
      if (batch.length === 0) {
        batch.push(s);
        chars = s.sql.length;
        if (!batchable(s)) break;
        continue;
      }
      if (!batchable(s)) continue;
      if (chars + s.sql.length > DDL_BATCH_MAX_CHARS) break;
      batch.push(s);
      chars += s.sql.length;
    }
    for (const s of batch) started.add(s.id);
    return batch;
  };
  const worker = async (client: pg.Client): Promise<void> => {
    const knownRoles: KnownRoles = new Set();
    const refusedNative: RefusedNative = new Map();
    for (;;) {
      if (failure !== undefined) return;
      const batch = nextBatch();
      if (batch.length === 0) {
        if (started.size === statements.length) return;
        if (started.size === done.size) {
          failure ??= new PgdtsError('INTERNAL', 'DDL statements depend on each other in a cycle');
          const w = wake;
          wake = undefined;
          w?.();
          return;
        }
        // Wait until some running statement finishes, then look again.
        await new Promise<void>((resolve) => {
          const prev = wake;
          wake = () => {
            prev?.();
            resolve();
          };
        });
        continue;
      }
      try {
        await runBatch(client, batch, knownRoles, refusedNative, (e) => {
          events.push(e);
          options.onStatement?.(e);
        });
      } catch (e) {
        failure ??= e instanceof Error ? e : new PgdtsError('INTERNAL', String(e));
      } finally {
        for (const s of batch) done.add(s.id);
        const w = wake;
        wake = undefined;
        w?.();
      }
    }
  };
  await Promise.all(clients.map(worker));
  await Promise.all(restores.map((r) => r().catch(() => undefined)));
  if (failure !== undefined) throw failure;
  return events;
}

/**
 * Which pre-data statements needing a superuser or C / internal code ({@link DdlStatement.native},
 * {@link DdlStatement.superuserOnly}) the destination would refuse, without changing it: those whose
 * `skipIf` finds nothing (an equal function, a type or parser of that name is left alone), each with
 * the reason. A destination user that is not superuser may create none of them; for a superuser,
 * each C function is created as `pg_temp.pgdts_native_probe()` from its library and symbol, and each
 * internal function from its built-in name, in a transaction rolled back (with
 * `check_function_bodies` on, CREATE FUNCTION loads the library and looks the symbol up: PostgreSQL
 * docs, "CREATE FUNCTION", "C-Language Functions"). Runs in a session prepared by
 * {@link prepareDdlSession}, whose settings are restored afterwards.
 * @throws the driver's error when a catalog query fails (the caller wraps it).
 */
export async function inspectNativeStatements(
  client: pg.Client,
  statements: readonly DdlStatement[],
): Promise<{ readonly object: string; readonly reason: string }[]> {
  const candidates = statements.filter((s) => s.native !== undefined || s.superuserOnly === true);
  if (candidates.length === 0) return [];
  const restore = await prepareDdlSession(client);
  try {
    const su = await client.query<{ su: boolean; who: string }>(
      'SELECT rolsuper AS su, current_user AS who FROM pg_catalog.pg_roles WHERE rolname = current_user',
    );
    const superuser = su.rows[0]?.su === true;
    const who = su.rows[0]?.who ?? 'the destination user';
    const out: { object: string; reason: string }[] = [];
    for (const s of candidates) {
      if (s.skipIf !== undefined && ((await client.query(s.skipIf)).rowCount ?? 0) > 0) continue;
      if (!superuser) {
        out.push({ object: s.object, reason: `${who} is not superuser on the destination` });
        continue;
      }
      if (s.native === undefined) continue;
      const as =
        s.native.language === 'c'
          ? `LANGUAGE c AS ${quoteLiteral(s.native.library)}, ${quoteLiteral(s.native.symbol)}`
          : `LANGUAGE internal AS ${quoteLiteral(s.native.symbol)}`;
      await client.query('BEGIN');
      try {
        await client.query("SET LOCAL check_function_bodies = 'on'");
        await client.query(`CREATE FUNCTION pg_temp.pgdts_native_probe() RETURNS void ${as}`);
      } catch (e) {
        out.push({ object: s.object, reason: nativeRefusalReason(s, e) });
      } finally {
        await client.query('ROLLBACK');
      }
    }
    return out;
  } finally {
    await restore().catch(() => undefined);
  }
}
