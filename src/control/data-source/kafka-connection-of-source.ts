/**
 * The Kafka connection of a stored Kafka data source: its brokers, SASL login and TLS material as
 * they are stored (password and PEM text, never files or environment variables).
 */
import type { KafkaConnection } from '../../sink/kafka/kafka-connection.ts';
import type { KafkaDataSource } from './data-source-schema.ts';

/** The connection to the cluster of `d`. */
export function kafkaConnectionOfSource(d: KafkaDataSource): KafkaConnection {
  return {
    bootstrapServers: d.bootstrapServers,
    sasl: d.sasl === null ? undefined : { ...d.sasl },
    tls:
      d.tls === null
        ? undefined
        : {
            ca: d.tls.ca ?? undefined,
            cert: d.tls.cert ?? undefined,
            key: d.tls.key ?? undefined,
            serverName: d.tls.serverName ?? undefined,
          },
  };
}
