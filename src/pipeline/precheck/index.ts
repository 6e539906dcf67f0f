/** Prechecks of a task: what `pgdts precheck` runs. */
export { runPrechecks, prechecksPassed, type PrecheckConnectors } from './run-prechecks.ts';
export { formatPrecheckReport } from './format-precheck-report.ts';
export type { PrecheckResult, PrecheckStatus, PrecheckOutcome } from '../../core/precheck.ts';
