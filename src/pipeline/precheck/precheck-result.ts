/**
 * Shapes shared by the prechecks: each check is one small module returning a {@link PrecheckOutcome};
 * the runner adds the check's id and title. In the style of pgstream's `pkg/stream/preflight` and
 * PeerDB's `validate.go`: checks never throw for a failed condition, they report it with a fix hint.
 */
import type pg from 'pg';
import { PgdtsError } from '../../core/errors.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import type { ConnectionParams } from '../../pg/connection.ts';
import type { SelectedTable } from '../../source/postgres/selected-tables.ts';

/** `pass`: fine; `warn`: works but worth knowing (slower, surprising); `fail`: the task would fail. */
export type PrecheckStatus = 'pass' | 'warn' | 'fail';

/** What a check found (without its id and title). */
export interface PrecheckOutcome {
  readonly status: PrecheckStatus;
  /** One line for the operator: what was checked and what was found (never a password). */
  readonly message: string;
  /** How to fix a warn/fail: an SQL statement or a setting to change. */
  readonly fix?: string;
}

/** One line of the precheck report. */
export interface PrecheckResult extends PrecheckOutcome {
  /** Stable identifier, e.g. `wal-level`. */
  readonly id: string;
  /** Short human title, e.g. `Source wal_level`. */
  readonly title: string;
}

/** A connected side and what the checks need to know about its session user. */
export interface PrecheckSide {
  readonly role: 'source' | 'destination';
  readonly client: pg.Client;
  readonly params: ConnectionParams;
  /** Server major version (13, 15, 17...). */
  readonly major: number;
  /** server_version as the server reports it (for messages). */
  readonly version: string;
  readonly user: string;
  readonly isSuperuser: boolean;
}

/** Everything the checks may use; a side is missing when it could not be reached. */
export interface PrecheckContext {
  readonly task: TaskConfig;
  readonly source: PrecheckSide | undefined;
  readonly destination: PrecheckSide | undefined;
  /** Selected tables on the source; missing when the selection could not be resolved. */
  readonly tables: readonly SelectedTable[] | undefined;
}

/** What a check requires before it can run; checks whose needs are unmet are not reported. */
export type PrecheckNeed = 'source' | 'destination' | 'tables';

/** One check: run only when `applies(task)` and its needs are met. */
export interface Precheck {
  readonly id: string;
  readonly title: string;
  readonly needs: readonly PrecheckNeed[];
  /** Default: always applies. */
  readonly applies?: (task: TaskConfig) => boolean;
  readonly run: (ctx: PrecheckContext) => Promise<PrecheckOutcome>;
}

/**
 * Returns `v`, which the runner guaranteed through {@link Precheck.needs}.
 * @throws {PgdtsError} INTERNAL when a check forgot to declare a need.
 */
export function needed<T>(v: T | undefined, what: string): T {
  if (v === undefined) throw new PgdtsError('INTERNAL', `precheck ran without ${what}`);
  return v;
}

/** `a, b, c and 7 more`: keeps messages one line long for big selections. */
export function listShort(items: readonly string[], max = 10): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
