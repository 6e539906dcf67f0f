/** `pgdts verify`: compare the selected tables of a task in source and destination. */
export { verifyTask, DEFAULT_CHUNK_ROWS, type VerifyOptions } from './verify-task.ts';
export { formatVerifyReport } from './format-verify-report.ts';
export type { VerifyReport, TableVerifyResult, DifferingChunk } from './verify-report.ts';
