/** `pgdts verify`: compare the selected tables of a task in source and destination. */
export {
  verifyTask,
  DEFAULT_CHUNK_ROWS,
  DEFAULT_LEAF_ROWS,
  DEFAULT_MAX_DIFFERENCES,
  DEFAULT_CATCH_UP_TIMEOUT_MS,
  type VerifyOptions,
} from './verify-task.ts';
export { applyRepairs, planRepairs, type RepairPlan, type RepairResult } from './repair-task.ts';
export {
  formatRowDifferences,
  formatRowDifferenceTable,
  rowDifferencesCsv,
} from './format-row-differences.ts';
export { formatVerifyReport } from './format-verify-report.ts';
export { VERIFY_MODES } from './verify-report.ts';
export {
  BookVerifyProgress,
  differingRunOptions,
  resumePointOf,
  verifyRunOptions,
  type PartialTableVerify,
  type VerifyProgress,
  type VerifyResumePoint,
  type VerifyRunOptions,
} from './verify-progress.ts';
export type {
  VerifyReport,
  TableVerifyResult,
  TableLiveRecheck,
  DifferingChunk,
  VerifyMode,
} from './verify-report.ts';
export { verifySchema, formatSchemaVerifyReport, type SchemaVerifyReport } from './verify-schema.ts';
