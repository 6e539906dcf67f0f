/**
 * The connectors of a control plane task on its stored data sources: the source is always
 * PostgreSQL; the destination PostgreSQL or Kafka, by the data source's `type`. The one place of the
 * control plane that switches on it to connect.
 */
import { openKafkaSinkAt, openSinkAt, openSourceAt } from '../../connectors/open-connectors.ts';
import type { Sink } from '../../core/sink.ts';
import type { Source } from '../../core/source.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import { postgresqlSourceOf } from '../task/task-definition-schema.ts';
import { connectionParamsOf } from './connection-params-of.ts';
import type { DataSource } from './data-source-schema.ts';
import { kafkaConnectionOfSource } from './kafka-connection-of-source.ts';

/**
 * The source connector of `task` on `source` (connects lazily).
 * @throws {ConfigError} `source.dataSource` when `source` is a kafka data source.
 */
export function openSourceOf(task: TaskConfig, source: DataSource): Source {
  return openSourceAt(task, connectionParamsOf(postgresqlSourceOf(source)));
}

/**
 * The sink connector of `task` on `destination` (connects lazily); a Kafka sink names `source`'s
 * database in its events.
 * @throws {ConfigError} `source.dataSource` when `source` is a kafka data source.
 */
export async function openSinkOf(
  task: TaskConfig,
  destination: DataSource,
  source: DataSource,
): Promise<Sink> {
  switch (destination.type) {
    case 'postgresql':
      return openSinkAt(task, connectionParamsOf(destination));
    case 'kafka':
      return openKafkaSinkAt(task, kafkaConnectionOfSource(destination), postgresqlSourceOf(source).database);
  }
}
