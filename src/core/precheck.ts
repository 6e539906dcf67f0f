/**
 * Shapes of the prechecks. Each check is one small object returning a {@link PrecheckOutcome}; the
 * runner adds the check's id and title. Connectors contribute the checks of their own side (they
 * close over their own connection); the pipeline runs them in order. In the style of pgstream's
 * `pkg/stream/preflight` and PeerDB's `validate.go`: checks never throw for a failed condition, they
 * report it with a fix hint.
 */
import type { SelectedTable } from './selected-table.ts';
import type { TableTarget } from './table-targets.ts';
import type { TaskConfig } from './task-config.ts';

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

/** Version facts of a connected server. */
export interface ServerInfo {
  /** Major version (13, 15, 17...). */
  readonly major: number;
  /** Version as the server reports it (for messages), e.g. `15.18`. */
  readonly version: string;
  /** What the server is, for messages; default `PostgreSQL`. */
  readonly product?: string;
  /** The session user. */
  readonly user: string;
  readonly isSuperuser: boolean;
  /** What the operator should know about the connection settings (e.g. an ignored password file). */
  readonly warnings?: readonly string[];
}

/** Everything a check may use besides its own side's connection. */
export interface PrecheckContext {
  readonly task: TaskConfig;
  /** Selected tables on the source; undefined when the selection could not be resolved. */
  readonly tables: readonly SelectedTable[] | undefined;
  /** What each selected table becomes in the destination (with `tables`). */
  readonly targets: readonly TableTarget[] | undefined;
  /** The source server, when it was reached. */
  readonly source: ServerInfo | undefined;
  /** The destination server, when it was reached. */
  readonly destination: ServerInfo | undefined;
}

/** What a check requires before it can run; checks whose needs are unmet are not reported. */
export type PrecheckNeed = 'source' | 'destination' | 'tables' | 'targets';

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
 * What a DBA runs on one side so that the task's user holds exactly what the task needs (`pgdts
 * grants`): statements in the order to run them, and notes on what cannot be granted there.
 */
export interface AccessRecipe {
  readonly side: 'source' | 'destination';
  /** Where it runs, `user@host:port/database`. */
  readonly target: string;
  /** Who runs it, e.g. `a superuser or the owner of the selected tables`. */
  readonly runAs: string;
  /** Statements without trailing semicolons. */
  readonly statements: readonly string[];
  readonly notes: readonly string[];
}

/** `a, b, c and 7 more`: keeps messages one line long for big selections. */
export function listShort(items: readonly string[], max = 10): string {
  if (items.length <= max) return items.join(', ');
  return `${items.slice(0, max).join(', ')} and ${items.length - max} more`;
}
