/**
 * Builds the source and sink connectors of a task from its `type`s: the one place that knows every
 * connector. The pipeline receives them through the core interfaces and never imports a connector.
 */
import { ddlSchemasOf } from '../core/ddl.ts';
import { homedir } from 'node:os';
import path from 'node:path';
import type { Sink } from '../core/sink.ts';
import type { Source } from '../core/source.ts';
import { publicationNameOf, slotNameOf, type TaskConfig } from '../core/task-config.ts';
import { resolveEndpoint, type ConnectionParams } from '../pg/connection.ts';
import type { KafkaDestinationConfig } from '../core/kafka-destination-config.ts';
import { kafkaConnectionOf, type KafkaConnection } from '../sink/kafka/kafka-connection.ts';
import { PgdtsError } from '../core/errors.ts';
import { PostgresSink } from '../sink/postgres/postgres-sink.ts';
import { PostgresSource } from '../source/postgres/postgres-source.ts';

/**
 * Where a task's spill files go by default: `$XDG_STATE_HOME/pgdts/spill/<task>`, else
 * `~/.local/state/pgdts/spill/<task>` (XDG Base Directory Specification, state data). Not the
 * temporary directory, which is memory on many systems.
 */
export function defaultSpillDir(taskName: string, env: NodeJS.ProcessEnv = process.env): string {
  const state = env.XDG_STATE_HOME || path.join(homedir(), '.local', 'state');
  return path.join(state, 'pgdts', 'spill', taskName);
}

/**
 * The task's source connector (connects lazily).
 * @throws {PgdtsError} CONFIG_INVALID when the endpoint cannot be resolved (bad URL, unset passwordEnv).
 */
export function openSource(task: TaskConfig): Source {
  return openSourceAt(task, resolveEndpoint(task.source, process.env, 'source'));
}

/**
 * The task's source connector on connection parameters resolved by the caller (the control plane
 * builds them from a stored data source, certificates as PEM text, without environment fallbacks).
 */
export function openSourceAt(task: TaskConfig, params: ConnectionParams): Source {
  switch (task.source.type) {
    case 'postgresql':
      return new PostgresSource(params, {
        taskName: task.name,
        slotName: slotNameOf(task),
        publicationName: publicationNameOf(task),
        spillDir: task.incremental.spillDir ?? defaultSpillDir(task.name),
        spillMaxBytes: task.incremental.spillMaxBytes,
        existingSlot: task.incremental.existingSlot !== undefined,
        heartbeat: task.source.heartbeat,
        ddlSchemas: ddlSchemasOf(task),
      });
  }
}

/**
 * The task's sink connector (connects lazily). Asynchronous because a Kafka sink's module is loaded
 * only when a task needs it: its client library takes about a second of CPU to import, which every
 * other command would pay at start.
 * @throws {PgdtsError} CONFIG_INVALID when the endpoint cannot be resolved.
 */
export async function openSink(task: TaskConfig): Promise<Sink> {
  const d = task.destination;
  if (d.type === 'kafka') return openKafkaSink(task, d);
  return openSinkAt(task, resolveEndpoint(d, process.env, 'destination'));
}

/**
 * The task's sink connector on connection parameters resolved by the caller (see {@link openSourceAt});
 * a Kafka destination takes its settings from the task (`params` are a PostgreSQL endpoint's).
 */
export async function openSinkAt(task: TaskConfig, params: ConnectionParams): Promise<Sink> {
  switch (task.destination.type) {
    case 'postgresql':
      return new PostgresSink(params);
    case 'kafka':
      return openKafkaSink(task, task.destination);
  }
}

/**
 * A Kafka sink of a task file: its events name the source database (`source.db`), resolved from the
 * task's source; its connection from the destination (password from the environment, TLS files).
 */
async function openKafkaSink(task: TaskConfig, d: KafkaDestinationConfig): Promise<Sink> {
  const sourceDb = resolveEndpoint(task.source, process.env, 'source').database;
  return openKafkaSinkAt(task, kafkaConnectionOf(d, process.env), sourceDb);
}

/**
 * The Kafka sink of a task whose destination is `type: kafka`, on a connection resolved by the caller
 * (the control plane builds it from a stored data source: password and PEM text, no files).
 * @param sourceDb the source database, which events name (`source.db`, `#{source_db_name}`).
 * Asynchronous: the Kafka sink's module is loaded on first use (see {@link openSink}).
 * @throws {PgdtsError} INTERNAL when the task's destination is not Kafka.
 */
export async function openKafkaSinkAt(
  task: TaskConfig,
  connection: KafkaConnection,
  sourceDb: string,
): Promise<Sink> {
  if (task.destination.type !== 'kafka') {
    throw new PgdtsError('INTERNAL', `task ${task.name}: its destination is not kafka`);
  }
  const { KafkaSink } = await import('../sink/kafka/kafka-sink.ts');
  return new KafkaSink(task.destination, { taskName: task.name, sourceDb, connection });
}

/** Runs `fn` with the task's connectors and closes them afterwards, whatever happens. */
export async function withConnectors<T>(
  task: TaskConfig,
  fn: (c: { readonly source: Source; readonly sink: Sink }) => Promise<T>,
): Promise<T> {
  const source = openSource(task);
  let sink: Sink | undefined;
  try {
    sink = await openSink(task);
    return await fn({ source, sink });
  } finally {
    await Promise.all([source.close(), sink?.close()]);
  }
}

/**
 * A catalog reader on a PostgreSQL destination (`pgdts verify --schema`, verify.md [V5]): a source
 * connector on the destination's endpoint, for `readSchema` only (it never creates a slot or a
 * publication, which only streaming does). Connects lazily; close it after use.
 * @throws {PgdtsError} DESTINATION_UNSUPPORTED for a Kafka destination (no catalog to compare);
 *   CONFIG_INVALID when the endpoint cannot be resolved.
 */
export function openDestinationSchemaReader(task: TaskConfig): Pick<Source, 'readSchema' | 'close'> {
  const d = task.destination;
  if (d.type !== 'postgresql') {
    throw new PgdtsError(
      'DESTINATION_UNSUPPORTED',
      `verify --schema needs a PostgreSQL destination, not ${d.type}`,
    );
  }
  return openSourceAt(task, resolveEndpoint(d, process.env, 'destination'));
}
