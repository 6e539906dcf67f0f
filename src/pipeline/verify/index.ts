/** `pgdts verify`: compare the selected tables of a task in source and destination. */
export {
  verifyTask,
  DEFAULT_CHUNK_ROWS,
  DEFAULT_LEAF_ROWS,
  DEFAULT_MAX_DIFFERENCES,
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
export type { VerifyReport, TableVerifyResult, DifferingChunk, VerifyMode } from './verify-report.ts';
export { verifySchema, formatSchemaVerifyReport, type SchemaVerifyReport } from './verify-schema.ts';
