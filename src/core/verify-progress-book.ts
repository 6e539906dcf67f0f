/**
 * Where `pgdts verify` keeps the progress of a run so that a stopped run can be resumed
 * (src/pipeline/verify/verify.md [V12]): in a PostgreSQL destination the table
 * `pgdts.verify_progress`, one row per task. The book stores JSON the pipeline defines (the run's
 * options, each finished table's result, the partly compared table) without reading it.
 *
 * Every write names the run (`runId`) that owns the row: a write of a run whose row was taken over
 * by a later run (a second `pgdts verify` of the same task) fails, so two runs never interleave their
 * progress.
 */

/** The saved progress of one task's verification run. */
export interface StoredVerifyProgress {
  /** The run that owns the row. */
  readonly runId: string;
  /** The run's options as it saved them (mode, chunk size...), JSON. */
  readonly options: unknown;
  /** The finished tables' results, in the order they finished, JSON. */
  readonly tables: readonly unknown[];
  /** The table being compared when the run stopped, JSON; undefined when none. */
  readonly partial: unknown;
  readonly startedAt: Date;
  readonly updatedAt: Date;
}

/** A sink's store of verification progress. */
export interface VerifyProgressBook {
  /**
   * The saved progress of task `taskName`, or undefined when none.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT wrapping the server error.
   */
  read(taskName: string): Promise<StoredVerifyProgress | undefined>;
  /**
   * Starts run `runId` of `taskName`: with `resume`, takes the saved row over (keeping its tables
   * and partial table; false when there is none any more), otherwise replaces any saved row with an
   * empty one holding `options`.
   * @throws {PgdtsError} DESTINATION_UNSUPPORTED when the bookkeeping cannot be created;
   *   CHECKPOINT_CONFLICT.
   */
  begin(taskName: string, runId: string, options: unknown, resume: boolean): Promise<boolean>;
  /**
   * Appends a finished table's result and clears the partial table.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT, also when another run took the row over.
   */
  addTable(taskName: string, runId: string, result: unknown): Promise<void>;
  /**
   * Replaces the partial table (after each compared chunk).
   * @throws {PgdtsError} CHECKPOINT_CONFLICT, also when another run took the row over.
   */
  setPartial(taskName: string, runId: string, partial: unknown): Promise<void>;
  /**
   * Deletes the row of run `runId` (a finished run); a row another run took over is kept.
   * @throws {PgdtsError} CHECKPOINT_CONFLICT wrapping the server error.
   */
  clear(taskName: string, runId: string): Promise<void>;
}
