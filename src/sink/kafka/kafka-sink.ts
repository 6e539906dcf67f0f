/**
 * The Kafka sink connector: a task's destination is a Kafka cluster, its changes Debezium-compatible
 * change events (change-event.ts) on topics routed and partitioned as the task file says
 * (topic-router.ts), its checkpoints in a compacted topic of the same cluster
 * (kafka-checkpoint-store.ts). Capabilities: full sync rows (`rows`, as read events) and incremental
 * changes (`openApplier`); no schema, sequences or verify. States and invariants: kafka-sink.md.
 */
import { Admin, Producer } from '@platformatic/kafka';
import type { AccessRecipe, Precheck, ServerInfo } from '../../core/precheck.ts';
import type { ChangeApplier, OpenApplierOptions, RowLoader, Sink } from '../../core/sink.ts';
import type { QualifiedName } from '../../core/identifier.ts';
import type { TableTarget } from '../../core/table-targets.ts';
import type { TaskConfig } from '../../core/task-config.ts';
import { kafkaClientProperties, type KafkaDestinationConfig } from '../../core/kafka-destination-config.ts';
import { ChangeEventEncoder } from './change-event.ts';
import { aclCommand, aclResourceOption, checkKafkaAcls, describeGap } from './kafka-acls.ts';
import { EventRouter } from './event-router.ts';
import { KafkaChangeApplier } from './kafka-change-applier.ts';
import { KafkaCheckpointStore } from './kafka-checkpoint-store.ts';
import { IdempotentSender } from './idempotent-sender.ts';
import { kafkaBaseOptions, kafkaError, TopicCatalog, type KafkaBaseOptions } from './kafka-client.ts';
import type { KafkaConnection } from './kafka-connection.ts';
import { KafkaRowLoader } from './kafka-row-loader.ts';
import { topicOf } from './topic-router.ts';

/** Options of {@link KafkaSink} besides the destination itself. */
export interface KafkaSinkOptions {
  readonly taskName: string;
  /** The source database (`source.db`, `#{source_db_name}`). */
  readonly sourceDb: string;
  /** The cluster and the login (kafka-connection.ts): `d`'s own, or a control plane data source's. */
  readonly connection: KafkaConnection;
}

/** A Kafka destination (see the file comment). Clients connect lazily. */
export class KafkaSink implements Sink {
  readonly description: string;
  readonly checkpoints: KafkaCheckpointStore;
  readonly schema = undefined;
  readonly sequences = undefined;
  readonly openHasher = undefined;
  readonly verifyProgress = undefined;
  readonly openRepairer = undefined;
  readonly rows: RowLoader;
  private readonly base: KafkaBaseOptions;
  private readonly admin: Admin;
  private readonly catalog: TopicCatalog;
  private readonly encoder: ChangeEventEncoder;
  private readonly router: EventRouter;
  /** The idempotent producer of events sent outside transactions, a request at a time. */
  private readonly sender: IdempotentSender;

  /** `d`'s bootstrapServers, sasl and tls are not used: `o.connection` says them. */
  constructor(
    private readonly d: KafkaDestinationConfig,
    private readonly o: KafkaSinkOptions,
  ) {
    this.description = `kafka ${o.connection.bootstrapServers.join(',')}`;
    this.base = kafkaBaseOptions(d, o.taskName, o.connection);
    this.admin = new Admin(this.base);
    this.catalog = new TopicCatalog(this.admin, d);
    this.checkpoints = new KafkaCheckpointStore(d, this.base, this.catalog);
    this.encoder = new ChangeEventEncoder({
      serverName: o.taskName,
      db: o.sourceDb,
      schemas: d.schemas,
      placeholder: d.unavailableValuePlaceholder,
      tombstones: d.tombstones,
    });
    this.router = new EventRouter(d, this.catalog, o.sourceDb);
    this.sender = new IdempotentSender(() => this.openDataProducer());
    this.rows = new KafkaRowLoader({
      store: this.checkpoints,
      encoder: this.encoder,
      router: this.router,
      sender: this.sender,
    });
  }

  /** A new idempotent producer of events sent outside transactions (`acks=all`). */
  private openDataProducer(): Producer {
    const p = kafkaClientProperties(this.d);
    const compression = p.compression ?? this.d.compression;
    return new Producer({
      ...this.base,
      idempotent: true,
      acks: -1,
      producerId: -1n,
      producerEpoch: -1,
      ...(compression !== 'none' ? { compression } : {}),
    });
  }

  async serverInfo(): Promise<ServerInfo> {
    try {
      const m = await this.admin.metadata({ topics: [] });
      return {
        major: 0,
        product: 'Kafka',
        version: `cluster ${m.id}, ${m.brokers.size} broker(s)`,
        user: this.o.connection.sasl?.username ?? '',
        isSuperuser: false,
      };
    } catch (e) {
      throw kafkaError('CONNECTION_FAILED', `connect to ${this.description}`, e);
    }
  }

  /**
   * Opens the applier after creating the missing topics of `o.tables` and the transaction topic.
   * `o.onConflict` and `o.singleRowUpTo` have no effect: events describe changes, there is no
   * destination row to conflict with.
   * @throws {PgdtsError} from topic creation or reading the applied position.
   */
  async openApplier(taskName: string, o?: OpenApplierOptions): Promise<ChangeApplier> {
    // The offsets topic is the checkpoint store's (compacted, created with its configs).
    const { all } = this.topicsOf(o?.tables ?? []);
    await this.catalog.ensureAll(all.filter((t) => t !== this.d.offsetsTopic));
    return new KafkaChangeApplier({
      ...(o?.primaryKeyOf === undefined ? {} : { primaryKeyOf: o.primaryKeyOf }),
      taskName,
      d: this.d,
      store: this.checkpoints,
      encoder: this.encoder,
      router: this.router,
      sender: this.sender,
      startPosition: await this.checkpoints.readAppliedPosition(taskName),
    });
  }

  /**
   * Every topic the task writes or reads back: `routed`, the topics of the destination `tables`;
   * `all`, those, offsetsTopic and transactionTopic.
   */
  private topicsOf(tables: readonly QualifiedName[]): { routed: string[]; all: string[] } {
    const routed = [
      ...new Set(
        tables.map((t) => topicOf(this.d.topic, { db: this.o.sourceDb, schema: t.schema, table: t.name })),
      ),
    ];
    const all = [
      ...new Set([
        ...routed,
        this.d.offsetsTopic,
        ...(this.d.transactionTopic !== null ? [this.d.transactionTopic] : []),
      ]),
    ];
    return { routed, all };
  }

  /** `User:<sasl username>`, or `User:ANONYMOUS` without SASL. */
  private principal(): string {
    return `User:${this.o.connection.sasl?.username ?? 'ANONYMOUS'}`;
  }

  prechecks(): readonly Precheck[] {
    return [
      {
        id: 'kafka-topics',
        title: 'Destination Kafka topics',
        needs: ['destination', 'targets'],
        run: async (ctx) => {
          const { routed: topics, all } = this.topicsOf((ctx.targets ?? []).map((t) => t.table));
          const missing: string[] = [];
          for (const t of all) if ((await this.catalog.describe(t)) === undefined) missing.push(t);
          if (missing.length === 0)
            return {
              status: 'pass',
              message: `all ${topics.length} topics and ${this.d.offsetsTopic} exist`,
            };
          // The offsets topic is created compacted with one partition, whatever newTopicPartitions says.
          const data = missing.filter((t) => t !== this.d.offsetsTopic);
          const parts = [
            ...(data.length > 0
              ? [
                  `${data.length} topic(s) will be created with ${this.d.newTopicPartitions} partition(s) (${data.slice(0, 5).join(', ')}${data.length > 5 ? ', ...' : ''})`,
                ]
              : []),
            ...(data.length < missing.length
              ? [`the offsets topic ${this.d.offsetsTopic} will be created compacted, with 1 partition`]
              : []),
          ];
          return {
            status: 'warn',
            message: parts.join('; '),
            fix: 'nothing to do if the destination user may create topics; otherwise create them first',
          };
        },
      },
      {
        id: 'kafka-acls',
        title: 'Destination Kafka ACLs',
        needs: ['destination', 'targets'],
        run: async (ctx) => {
          const { all } = this.topicsOf((ctx.targets ?? []).map((t) => t.table));
          const transactionalId = this.checkpoints.transactionalIdOf(ctx.task.name);
          const r = await checkKafkaAcls(this.base, { topics: all, transactionalId });
          const who = this.principal();
          if (r.authorizer === 'none')
            return {
              status: 'pass',
              message: `no authorizer is configured on the cluster (DescribeAcls: SECURITY_DISABLED): ${who} may do everything`,
            };
          if (r.authorizer === 'unsupported')
            return {
              status: 'warn',
              message: `the broker does not offer ${(r.missingApis ?? []).join(', ')} (Kafka before 3.0?): ACLs of ${who} not checked`,
              fix: 'grant what `pgdts grants TASK_FILE --side destination` prints, then ignore this warning',
            };
          if (r.authorizer === 'omitted')
            return {
              status: 'pass',
              message: `the broker does not report authorized operations (KIP-430, Kafka < 2.3, or no authorizer configured): ACLs of ${who} not checked`,
            };
          if (r.gaps.length === 0)
            return {
              status: 'pass',
              message: `${who} holds Describe, Write and Read on the ${all.length} topics (Create where missing), Describe and Write on transactional id ${transactionalId}, and idempotent writes`,
            };
          const bootstrap = this.o.connection.bootstrapServers[0] ?? '';
          return {
            status: 'fail',
            message: `${who} lacks ${r.gaps.map(describeGap).join('; ')}`,
            fix: r.gaps.map((g) => aclCommand(bootstrap, who, g.operations, aclResourceOption(g))).join('; '),
          };
        },
      },
    ];
  }

  accessRecipe(task: TaskConfig, targets: readonly TableTarget[]): Promise<AccessRecipe> {
    const user = this.principal();
    const bootstrap = this.o.connection.bootstrapServers[0] ?? '';
    return Promise.resolve({
      side: 'destination',
      target: this.description,
      runAs: 'a Kafka administrator',
      statements: [
        ...this.topicsOf(targets.map((t) => t.table)).all.map((t) =>
          aclCommand(bootstrap, user, ['Describe', 'Create', 'Write', 'Read'], `--topic ${t}`),
        ),
        aclCommand(
          bootstrap,
          user,
          ['Describe', 'Write'],
          `--transactional-id ${this.checkpoints.transactionalIdOf(task.name)}`,
        ),
        aclCommand(bootstrap, user, ['IdempotentWrite'], '--cluster'),
      ],
      notes: ['Read on the topics is for consumers and for reading the offsets topic back on start.'],
    });
  }

  async close(): Promise<void> {
    await Promise.all([
      this.checkpoints.close(),
      this.sender.close(),
      this.admin.close().catch(() => undefined),
    ]);
  }
}
