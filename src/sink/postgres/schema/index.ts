/** Schema sync on a PostgreSQL destination: DDL planning from the schema model and its execution. */
export { planSchemaDdl, type DdlKind, type DdlStatement, type SchemaDdlPlan } from './plan-schema-ddl.ts';
export {
  applySchemaDdl,
  applySchemaDdlParallel,
  inspectNativeStatements,
  prepareDdlSession,
  type ApplySchemaDdlOptions,
  type DdlEvent,
  type DdlOutcome,
} from './apply-schema-ddl.ts';
