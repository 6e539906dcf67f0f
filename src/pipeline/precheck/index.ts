/** Prechecks of a task: what `pgdts check` runs and `pgdts run` runs first. */
export { runPrechecks, prechecksPassed, PRECHECKS } from './run-prechecks.ts';
export { formatPrecheckReport } from './format-precheck-report.ts';
export type { PrecheckResult, PrecheckStatus, PrecheckOutcome } from './precheck-result.ts';
