/**
 * The `@platformatic/kafka` clients of a Kafka destination: their options from the task file
 * (brokers, SASL, TLS, `properties.*`), topic creation, and the translation of the client's errors
 * into pgdts error codes with their retry classification.
 */
import type { Admin } from '@platformatic/kafka';
import {
  addPartitionsToTxnV3,
  GenericError,
  kGetApi,
  Producer,
  type API,
  type BaseOptions,
  type Callback,
} from '@platformatic/kafka';
import { PgdtsError, type ErrorCode } from '../../core/errors.ts';
import { kafkaClientProperties, type KafkaDestinationConfig } from '../../core/kafka-destination-config.ts';
import type { KafkaConnection } from './kafka-connection.ts';

/** Options every client of the destination shares. */
export type KafkaBaseOptions = BaseOptions;

/** Most key and value bytes of one produce request (the broker's message.max.bytes is 1 MB by default). */
export const PRODUCE_REQUEST_BYTES = 512 * 1024;
/** Most records of one produce request. */
export const PRODUCE_REQUEST_RECORDS = 2_000;

/**
 * `messages` cut into produce requests of at most {@link PRODUCE_REQUEST_BYTES} key and value bytes
 * and {@link PRODUCE_REQUEST_RECORDS} records, order kept (a record larger than the limit goes alone).
 */
export function produceChunks<M extends { readonly key?: Buffer; readonly value?: Buffer }>(
  messages: readonly M[],
): M[][] {
  const out: M[][] = [];
  let chunk: M[] = [];
  let bytes = 0;
  for (const m of messages) {
    const size = (m.key?.length ?? 0) + (m.value?.length ?? 0) + 64;
    if (
      chunk.length > 0 &&
      (bytes + size > PRODUCE_REQUEST_BYTES || chunk.length >= PRODUCE_REQUEST_RECORDS)
    ) {
      out.push(chunk);
      chunk = [];
      bytes = 0;
    }
    chunk.push(m);
    bytes += size;
  }
  if (chunk.length > 0) out.push(chunk);
  return out;
}

/** Protocol errors (Kafka protocol, "Error Codes") after which the writer is no longer the task's. */
const FENCED = ['PRODUCER_FENCED', 'INVALID_PRODUCER_EPOCH', 'TRANSACTIONAL_ID_NOT_FOUND'];
/** Protocol errors that need the operator: ACLs (KIP-11), a bad configuration. */
const REFUSED = [
  'TOPIC_AUTHORIZATION_FAILED',
  'CLUSTER_AUTHORIZATION_FAILED',
  'TRANSACTIONAL_ID_AUTHORIZATION_FAILED',
  'GROUP_AUTHORIZATION_FAILED',
  'INVALID_REPLICATION_FACTOR',
  'POLICY_VIOLATION',
  'INVALID_TOPIC_EXCEPTION',
  'RECORD_LIST_TOO_LARGE',
  'MESSAGE_TOO_LARGE',
];

/**
 * A transactional producer that adds partitions to its transactions with AddPartitionsToTxn v3.
 * @platformatic/kafka 1.35 uses the broker's highest version, v5 on Kafka 4.x; from v4 on (KIP-890)
 * that request is the brokers' own batched form, which Kafka allows only with ClusterAction on the
 * cluster: a user holding the ACLs a client needs got CLUSTER_AUTHORIZATION_FAILED on its first
 * transaction (seen on the secured test broker, test/sink/kafka/kafka-secured.test.ts). v3 has the
 * same request and answer shapes in the client.
 */
export class TransactionalProducer extends Producer {
  override [kGetApi]<RequestArguments extends Array<unknown>, ResponseType>(
    name: string,
    callback: Callback<API<RequestArguments, ResponseType>>,
  ): void {
    if (name === 'AddPartitionsToTxn') {
      callback(null, addPartitionsToTxnV3.api as unknown as API<RequestArguments, ResponseType>);
      return;
    }
    super[kGetApi](name, callback);
  }
}

/**
 * The base client options of `d` on connection `c`: brokers, client id, timeouts, SASL and TLS.
 */
export function kafkaBaseOptions(
  d: KafkaDestinationConfig,
  taskName: string,
  c: KafkaConnection,
): KafkaBaseOptions {
  const p = kafkaClientProperties(d);
  const sasl: KafkaBaseOptions['sasl'] =
    c.sasl === undefined
      ? undefined
      : {
          mechanism:
            c.sasl.mechanism === 'plain'
              ? 'PLAIN'
              : c.sasl.mechanism === 'scram-sha-256'
                ? 'SCRAM-SHA-256'
                : 'SCRAM-SHA-512',
          username: c.sasl.username,
          password: c.sasl.password,
        };
  const tls =
    c.tls === undefined
      ? undefined
      : {
          ...(c.tls.ca !== undefined ? { ca: c.tls.ca } : {}),
          ...(c.tls.cert !== undefined ? { cert: c.tls.cert } : {}),
          ...(c.tls.key !== undefined ? { key: c.tls.key } : {}),
          ...(c.tls.serverName !== undefined ? { servername: c.tls.serverName } : {}),
        };
  return {
    clientId: p.clientId ?? `pgdts-${taskName}`,
    bootstrapBrokers: [...c.bootstrapServers],
    ...(p.requestTimeoutMs !== undefined ? { requestTimeout: p.requestTimeoutMs } : {}),
    ...(d.connectTimeoutMs !== undefined ? { connectTimeout: d.connectTimeoutMs } : {}),
    retries: p.retries ?? 3,
    retryDelay: p.retryBackoffMs ?? 100,
    ...(sasl !== undefined ? { sasl } : {}),
    ...(tls !== undefined ? { tls } : {}),
  };
}

/** The protocol error ids (`apiId`) inside a client error, outermost first. */
function apiIds(e: unknown): string[] {
  const out: string[] = [];
  const visit = (x: unknown, depth: number) => {
    if (depth > 6 || typeof x !== 'object' || x === null) return;
    const o = x as { apiId?: unknown; errors?: unknown; cause?: unknown };
    if (typeof o.apiId === 'string') out.push(o.apiId);
    if (Array.isArray(o.errors)) for (const y of o.errors) visit(y, depth + 1);
    visit(o.cause, depth + 1);
  };
  visit(e, 0);
  return out;
}

/** The client error codes (`PLT_KFK_...`) inside a client error, outermost first. */
function codes(e: unknown): string[] {
  const out: string[] = [];
  const visit = (x: unknown, depth: number) => {
    if (depth > 6 || typeof x !== 'object' || x === null) return;
    const o = x as { code?: unknown; errors?: unknown; cause?: unknown };
    if (typeof o.code === 'string') out.push(o.code);
    if (Array.isArray(o.errors)) for (const y of o.errors) visit(y, depth + 1);
    visit(o.cause, depth + 1);
  };
  visit(e, 0);
  return out;
}

/** Whether `e` says that a producer with the same transactional id took over (KIP-98 fencing). */
export function isFenced(e: unknown): boolean {
  return apiIds(e).some((id) => FENCED.includes(id));
}

/** Protocol errors of an idempotent producer whose sequence numbers are no longer the broker's (KIP-98). */
const SEQUENCE = ['OUT_OF_ORDER_SEQUENCE_NUMBER', 'DUPLICATE_SEQUENCE_NUMBER', 'UNKNOWN_PRODUCER_ID'];

/** Whether `e` says the producer's sequence numbers went out of step with the broker's. */
export function isSequenceError(e: unknown): boolean {
  return apiIds(e).some((id) => SEQUENCE.includes(id));
}

/** Whether `e` is a CreateTopics answer that the topic exists already. */
export function isTopicExists(e: unknown): boolean {
  return apiIds(e).includes('TOPIC_ALREADY_EXISTS');
}

/** The deepest message of a client error (its `errors` and causes say more than the wrapper). */
function detail(e: unknown): string {
  const parts: string[] = [];
  const visit = (x: unknown, depth: number) => {
    if (depth > 6 || !(x instanceof Error)) return;
    if (!parts.includes(x.message)) parts.push(x.message);
    const errors = (x as { errors?: unknown }).errors;
    if (Array.isArray(errors)) for (const y of errors.slice(0, 3)) visit(y, depth + 1);
    visit(x.cause, depth + 1);
  };
  visit(e, 0);
  return parts.join(': ') || String(e);
}

/**
 * A client error as a PgdtsError: fencing is CHECKPOINT_CONFLICT (another run took the task, not
 * retryable); an ACL or configuration refusal DESTINATION_UNSUPPORTED (not retryable); a refused
 * SASL login CONNECTION_FAILED (not retryable); a network failure CONNECTION_FAILED (retryable,
 * connection window); anything else `code`, retryable when the
 * client says the operation can be retried.
 */
export function kafkaError(code: ErrorCode, what: string, e: unknown): PgdtsError {
  if (e instanceof PgdtsError) return e;
  const ids = apiIds(e);
  const message = `${what}: ${detail(e)}`;
  if (ids.some((id) => FENCED.includes(id))) {
    return new PgdtsError(
      'CHECKPOINT_CONFLICT',
      `${message} (another run of the task took over its transactional id)`,
      {
        cause: e,
      },
    );
  }
  const refused = ids.find((id) => REFUSED.includes(id));
  if (refused !== undefined) {
    return new PgdtsError('DESTINATION_UNSUPPORTED', message, {
      cause: e,
      retryable: false,
      ...(refused.includes('AUTHORIZATION')
        ? { hint: 'grant the ACLs listed in README "Kafka destination"' }
        : {}),
    });
  }
  const generic = e instanceof Error && GenericError.isGenericError(e) ? e : undefined;
  // A refused login arrives wrapped in the client's "cannot connect to any broker" network error:
  // looked for first, since retrying the same credentials for the connection window only fails the
  // same way (a wrong password would otherwise keep a task retrying for hours).
  if (codes(e).includes('PLT_KFK_AUTHENTICATION') || ids.includes('SASL_AUTHENTICATION_FAILED'))
    return new PgdtsError('CONNECTION_FAILED', message, {
      cause: e,
      retryable: false,
      hint: 'check destination.sasl (mechanism, username) and the password in its passwordEnv variable',
    });
  const network =
    generic?.code === 'PLT_KFK_NETWORK' ||
    generic?.code === 'PLT_KFK_TIMEOUT' ||
    codes(e).includes('PLT_KFK_NETWORK');
  if (network)
    return new PgdtsError('CONNECTION_FAILED', message, {
      cause: e,
      retryable: true,
      retryWindow: 'connection',
    });
  const canRetry = (generic as { canRetry?: unknown } | undefined)?.canRetry;
  return new PgdtsError(code, message, { cause: e, retryable: canRetry !== false });
}

/** Topics known to exist, with their partition counts; shared by the clients of one sink. */
export class TopicCatalog {
  private readonly partitions = new Map<string, number>();
  private readonly pending = new Map<string, Promise<number>>();

  constructor(
    private readonly admin: Admin,
    private readonly d: KafkaDestinationConfig,
  ) {}

  /**
   * The partition count of `topic`, creating it when missing (`newTopicPartitions`,
   * `replicationFactor`, and `configs`, e.g. `cleanup.policy=compact`).
   * @throws {PgdtsError} DESTINATION_UNSUPPORTED when topics may not be created or described;
   *   CONNECTION_FAILED.
   */
  async ensure(topic: string, configs: Readonly<Record<string, string>> = {}): Promise<number> {
    const known = this.partitions.get(topic);
    if (known !== undefined) return known;
    let p = this.pending.get(topic);
    if (p === undefined) {
      p = this.load(topic, configs).finally(() => this.pending.delete(topic));
      this.pending.set(topic, p);
    }
    return p;
  }

  /**
   * Creates those of `topics` that are missing (as {@link ensure}, default configs), 8 at a time:
   * a topic's creation waits for its leader, ~100 ms to 1 s each.
   * @throws {PgdtsError} as {@link ensure}.
   */
  async ensureAll(topics: readonly string[]): Promise<void> {
    let next = 0;
    const worker = async (): Promise<void> => {
      for (let t = topics[next++]; t !== undefined; t = topics[next++]) await this.ensure(t);
    };
    await Promise.all(Array.from({ length: Math.min(8, topics.length) }, worker));
  }

  /** The partition count of `topic`, or undefined when it does not exist. */
  async describe(topic: string): Promise<number | undefined> {
    try {
      const m = await this.admin.metadata({ topics: [topic], forceUpdate: true });
      return m.topics.get(topic)?.partitionsCount;
    } catch (e) {
      // The client answers a missing topic with a UserError "Unknown topic <name>." (no protocol code).
      const unknown = e instanceof Error && e.message.startsWith('Unknown topic ');
      if (unknown || apiIds(e).includes('UNKNOWN_TOPIC_OR_PARTITION')) return undefined;
      throw kafkaError('APPLY_FAILED', `describe topic ${topic}`, e);
    }
  }

  private async load(topic: string, configs: Readonly<Record<string, string>>): Promise<number> {
    let n = await this.describe(topic);
    if (n === undefined) {
      try {
        await this.admin.createTopics({
          topics: [topic],
          partitions: configs['cleanup.policy'] === 'compact' ? 1 : this.d.newTopicPartitions,
          replicas: this.d.replicationFactor ?? -1,
          configs: Object.entries(configs).map(([name, value]) => ({ name, value })),
        });
      } catch (e) {
        if (!isTopicExists(e)) throw kafkaError('APPLY_FAILED', `create topic ${topic}`, e);
      }
      for (let i = 0; i < 50 && n === undefined; i++) {
        n = await this.describe(topic);
        if (n === undefined) await new Promise((r) => setTimeout(r, 100));
      }
      if (n === undefined)
        throw new PgdtsError('APPLY_FAILED', `topic ${topic} was created but does not show`, {
          retryable: true,
        });
    }
    this.partitions.set(topic, n);
    return n;
  }
}
