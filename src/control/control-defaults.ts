/**
 * Defaults of the control plane's command-line options, in a module of their own so that the CLI can
 * show them in `--help` without loading the API server, the store and the worker (fastify and the
 * connectors take a large part of a second to import, which every `pgdts` command would pay).
 */

/** Default `--listen` of `pgdts serve`. */
export const DEFAULT_LISTEN = '127.0.0.1:8432';
/** Default `--data-dir` of `pgdts serve` and `pgdts worker`. */
export const DEFAULT_DATA_DIR = './.pgdts';
/** Default `--poll-ms`: how often a worker looks at the store, ms. */
export const DEFAULT_POLL_MS = 1_000;
/** Default `--verify-tick-ms` of `pgdts serve`: how often due verification schedules are looked for. */
export const DEFAULT_VERIFY_TICK_MS = 15_000;
/** Default `--lease-timeout`, ms: a lost worker's tasks are taken over within it (task-states.md S10). */
export const DEFAULT_LEASE_TIMEOUT_MS = 30_000;
