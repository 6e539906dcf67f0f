/**
 * Where a Kafka destination's cluster is and how to log in, resolved: the SASL password itself and
 * the TLS certificates and key as PEM text. A task file names files and environment variables
 * ({@link kafkaConnectionOf} reads them); a control plane data source holds the values themselves
 * (src/control/data-source/kafka-connection-of-source.ts).
 */
import { readFileSync } from 'node:fs';
import { PgdtsError } from '../../core/errors.ts';
import type { KafkaDestinationConfig, SaslMechanism } from '../../core/kafka-destination-config.ts';

/** A resolved Kafka connection. The password and key never go into logs or errors. */
export interface KafkaConnection {
  /** `host:port` of each bootstrap broker. */
  readonly bootstrapServers: readonly string[];
  readonly sasl:
    { readonly mechanism: SaslMechanism; readonly username: string; readonly password: string } | undefined;
  /** TLS on every broker connection; `ca` undefined trusts the system's authorities. PEM text. */
  readonly tls:
    | {
        readonly ca: string | undefined;
        readonly cert: string | undefined;
        readonly key: string | undefined;
        readonly serverName: string | undefined;
      }
    | undefined;
}

/**
 * The connection of a task file's Kafka destination: `sasl.passwordEnv` read from `env`, the TLS
 * files read now.
 * @throws {PgdtsError} CONFIG_INVALID when `sasl.passwordEnv` is unset or a TLS file cannot be read.
 */
export function kafkaConnectionOf(d: KafkaDestinationConfig, env: NodeJS.ProcessEnv): KafkaConnection {
  const read = (key: string, file: string | undefined) => {
    if (file === undefined) return undefined;
    try {
      return readFileSync(file, 'utf8');
    } catch (e) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `destination.tls.${key}: cannot read ${file}: ${(e as Error).message}`,
      );
    }
  };
  let sasl: KafkaConnection['sasl'];
  if (d.sasl !== undefined) {
    const password = d.sasl.password ?? env[d.sasl.passwordEnv ?? ''];
    if (password === undefined) {
      throw new PgdtsError(
        'CONFIG_INVALID',
        `destination.sasl.passwordEnv: environment variable ${d.sasl.passwordEnv ?? ''} is not set`,
      );
    }
    sasl = { mechanism: d.sasl.mechanism, username: d.sasl.username, password };
  }
  const tls =
    d.tls === undefined
      ? undefined
      : {
          ca: read('ca', d.tls.ca),
          cert: read('cert', d.tls.cert),
          key: read('key', d.tls.key),
          serverName: d.tls.serverName,
        };
  return { bootstrapServers: d.bootstrapServers, sasl, tls };
}
