/**
 * The `kafka-acls` precheck: which of the ACLs (KIP-11) a task needs its Kafka user lacks, asked of
 * the broker itself rather than read from the ACL list (which only an administrator may describe).
 *
 * - Topics: Metadata v12 with `include_topic_authorized_operations` (KIP-430) answers, for each
 *   topic the user may Describe, the bit set of the AclOperation codes it is allowed on it (also for
 *   a topic that does not exist yet: UNKNOWN_TOPIC_OR_PARTITION with the bits of its name). A topic
 *   it may not Describe is TOPIC_AUTHORIZATION_FAILED, and nothing else can be told about it.
 * - Cluster: DescribeCluster v1 with `include_cluster_authorized_operations` (0 without Describe on
 *   the cluster): Create (topics may be created by name) and IdempotentWrite.
 * - The idempotent producer: since Kafka 3.0 (KIP-679) Write on any topic also allows it; when
 *   neither that nor IdempotentWrite shows, an InitProducerId without transactional id tells
 *   (CLUSTER_AUTHORIZATION_FAILED), which only allocates an unused producer id.
 * - The transactional id (no authorized operations in any answer): FindCoordinator of it needs
 *   Describe, EndTxn of it Write (TRANSACTIONAL_ID_AUTHORIZATION_FAILED before anything else). The
 *   EndTxn names producer id -1, which no transaction has: the coordinator answers
 *   INVALID_PRODUCER_ID_MAPPING and changes nothing (a running task's transaction is not touched,
 *   unlike InitProducerId, which would fence it).
 * - No authorizer: DescribeAcls answers SECURITY_DISABLED; every operation is allowed.
 *
 * The requests go over one connection of @platformatic/kafka's protocol API (its Admin drops the
 * authorized operations of Metadata), logged in with the task's SASL and TLS settings, each at the
 * highest version both the client and the broker (ApiVersions) have; a broker without one of them
 * (Kafka before 3.0) is reported as `unsupported`.
 */
import {
  AclOperations,
  apiVersionsV3,
  Connection,
  describeAclsV2,
  describeAclsV3,
  describeClusterV0,
  describeClusterV1,
  endTxnV3,
  endTxnV4,
  findCoordinatorV4,
  findCoordinatorV5,
  findCoordinatorV6,
  initProducerIdV3,
  initProducerIdV4,
  initProducerIdV5,
  metadataV10,
  metadataV11,
  metadataV12,
  metadataV9,
} from '@platformatic/kafka';
import { splitHostPort } from '../../core/kafka-destination-config.ts';
import { kafkaError, type KafkaBaseOptions } from './kafka-client.ts';

/** Kafka protocol error codes ("Error Codes" in the protocol guide) this check tells apart. */
const UNKNOWN_TOPIC_OR_PARTITION = 3;
const TOPIC_AUTHORIZATION_FAILED = 29;
const CLUSTER_AUTHORIZATION_FAILED = 31;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED = 53;
const SECURITY_DISABLED = 54;
/** The schema default of the authorized operations fields: not computed. */
const OMITTED = -2147483648;

/** An operation as kafka-acls.sh's `--operation` spells it. */
export type AclOperationName = 'Describe' | 'Write' | 'Read' | 'Create' | 'IdempotentWrite';

const CODE: Record<AclOperationName, number> = {
  Describe: AclOperations.DESCRIBE,
  Write: AclOperations.WRITE,
  Read: AclOperations.READ,
  Create: AclOperations.CREATE,
  IdempotentWrite: AclOperations.IDEMPOTENT_WRITE,
};

/** What the task needs on the cluster. */
export interface KafkaAclNeeds {
  /** Every topic the task writes or reads back (routed topics, offsets topic, transaction topic). */
  readonly topics: readonly string[];
  /** The task writer's transactional id. */
  readonly transactionalId: string;
}

/** Operations missing on one resource. */
export interface KafkaAclGap {
  readonly resource: 'topic' | 'transactional-id' | 'cluster';
  /** The topic or transactional id; `kafka-cluster` for the cluster. */
  readonly name: string;
  readonly operations: readonly AclOperationName[];
  /** Why, when not plain: e.g. the topic is missing, Describe hides the rest. */
  readonly note?: string;
}

/** What the broker said. */
export interface KafkaAclReport {
  /**
   * `none`: no authorizer (DescribeAcls SECURITY_DISABLED); `omitted`: no authorized operations
   * answered; `unsupported`: the broker lacks a request the check needs (`gaps` empty, `missingApis`).
   */
  readonly authorizer: 'present' | 'none' | 'omitted' | 'unsupported';
  readonly gaps: readonly KafkaAclGap[];
  /** With `unsupported`: the requests and versions the broker does not offer, e.g. `Metadata v9+`. */
  readonly missingApis?: readonly string[];
}

/** Versions of one request the client has, highest first (same arguments in each). */
interface Versions<A> {
  readonly name: string;
  readonly key: number;
  readonly apis: readonly A[];
}
const METADATA = { name: 'Metadata', key: 3, apis: [metadataV12, metadataV11, metadataV10, metadataV9] };
const DESCRIBE_CLUSTER = { name: 'DescribeCluster', key: 60, apis: [describeClusterV1, describeClusterV0] };
const DESCRIBE_ACLS = { name: 'DescribeAcls', key: 29, apis: [describeAclsV3, describeAclsV2] };
const FIND_COORDINATOR = {
  name: 'FindCoordinator',
  key: 10,
  apis: [findCoordinatorV6, findCoordinatorV5, findCoordinatorV4],
};
const INIT_PRODUCER_ID = {
  name: 'InitProducerId',
  key: 22,
  apis: [initProducerIdV5, initProducerIdV4, initProducerIdV3],
};
const END_TXN = { name: 'EndTxn', key: 26, apis: [endTxnV4, endTxnV3] };

const has = (bits: number, op: AclOperationName) => bits !== OMITTED && (bits & (1 << CODE[op])) !== 0;

/** The protocol error code of a raw API's failure, and its parsed response when it has one. */
function responseOf(e: unknown): { codes: number[]; response: unknown } | undefined {
  const o = e as { errors?: unknown; response?: unknown };
  if (typeof e !== 'object' || e === null || !Array.isArray(o.errors)) return undefined;
  const codes = o.errors
    .map((x) => (x as { apiCode?: unknown }).apiCode)
    .filter((c): c is number => typeof c === 'number');
  return { codes, response: o.response };
}

/** `request()`'s answer, or the answer inside its ResponseError (per-resource errors). */
async function answer<T>(request: () => Promise<T>): Promise<{ value: T | undefined; codes: number[] }> {
  try {
    return { value: await request(), codes: [] };
  } catch (e) {
    const r = responseOf(e);
    if (r === undefined || r.codes.length === 0) throw e;
    return { value: r.response as T | undefined, codes: r.codes };
  }
}

/**
 * Opens a protocol connection to the first bootstrap server that accepts it (TLS and SASL login
 * included).
 * @throws {PgdtsError} CONNECTION_FAILED naming each `host:port` tried and its cause (never the
 *   password).
 */
async function connectFirst(base: KafkaBaseOptions): Promise<Connection> {
  const failures: unknown[] = [];
  for (const server of base.bootstrapBrokers as readonly string[]) {
    const { host, port } = splitHostPort(server);
    const c = new Connection(base.clientId, {
      ...(base.connectTimeout !== undefined ? { connectTimeout: base.connectTimeout } : {}),
      ...(base.requestTimeout !== undefined ? { requestTimeout: base.requestTimeout } : {}),
      ...(base.tls !== undefined ? { tls: base.tls } : {}),
      ...(base.sasl !== undefined ? { sasl: base.sasl } : {}),
    });
    try {
      await c.connect(host, port);
      return c;
    } catch (e) {
      failures.push(kafkaError('CONNECTION_FAILED', `connect to ${server}`, e).message);
      await c.close().catch(() => undefined);
    }
  }
  throw kafkaError('CONNECTION_FAILED', 'check ACLs', new Error(failures.join('; ')));
}

/**
 * Asks the cluster of `base` which of `needs` its user lacks (see the file comment). Takes a few
 * round trips on one connection, closed before returning.
 * @throws {PgdtsError} CONNECTION_FAILED when no bootstrap server can be reached or logged in to
 *   (each `host:port` and its cause, never the password) or the connection breaks; otherwise
 *   APPLY_FAILED (DESTINATION_UNSUPPORTED for an unexpected authorization refusal) when a request
 *   fails in a way the check does not read as an answer.
 */
export async function checkKafkaAcls(base: KafkaBaseOptions, needs: KafkaAclNeeds): Promise<KafkaAclReport> {
  const c = await connectFirst(base);
  try {
    const offered = (await apiVersionsV3.api.async(c, 'pgdts', '0')).apiKeys;
    const missingApis: string[] = [];
    const pick = <A extends { readonly api: { readonly version: number } }>(v: Versions<A>): A => {
      const range = offered.find((a) => a.apiKey === v.key);
      const found = v.apis.find(
        (a) => range !== undefined && a.api.version >= range.minVersion && a.api.version <= range.maxVersion,
      );
      if (found === undefined) missingApis.push(`${v.name} v${v.apis.map((a) => a.api.version).join('/')}`);
      return found ?? (v.apis[0] as A);
    };
    const describeAcls = pick(DESCRIBE_ACLS).api;
    const describeCluster = pick(DESCRIBE_CLUSTER).api;
    const metadata = pick(METADATA).api;
    const findCoordinator = pick(FIND_COORDINATOR).api;
    const initProducerId = pick(INIT_PRODUCER_ID).api;
    const endTxn = pick(END_TXN).api;
    if (missingApis.length > 0) return { authorizer: 'unsupported', gaps: [], missingApis };

    const acls = await answer(() =>
      describeAcls.async(c, {
        resourceType: 1,
        resourceName: null,
        resourcePatternType: 1,
        principal: null,
        host: null,
        operation: AclOperations.ANY,
        permissionType: 1,
      }),
    );
    if (acls.codes.includes(SECURITY_DISABLED)) return { authorizer: 'none', gaps: [] };

    // Not told (no Describe on the cluster, or an answer without it): 0, nothing assumed allowed.
    const cluster = await answer(() => describeCluster.async(c, true, 1)).catch(() => undefined);
    const clusterOps = cluster?.value?.clusterAuthorizedOperations ?? 0;
    const meta = await answer(() => metadata.async(c, [...needs.topics], false, true));
    const gaps: KafkaAclGap[] = [];
    let writesSomeTopic = false;
    let omitted = false;
    for (const t of meta.value?.topics ?? []) {
      const name = t.name ?? '';
      if (!needs.topics.includes(name)) continue;
      const missingTopic = t.errorCode === UNKNOWN_TOPIC_OR_PARTITION;
      const wanted: AclOperationName[] = ['Describe', 'Write', 'Read'];
      if (t.errorCode === TOPIC_AUTHORIZATION_FAILED) {
        gaps.push({
          resource: 'topic',
          name,
          operations: [...wanted, 'Create'],
          note: 'without Describe the broker tells nothing else about it, nor whether it exists',
        });
        continue;
      }
      if (t.errorCode !== 0 && !missingTopic)
        throw kafkaError('APPLY_FAILED', `metadata of topic ${name}`, new Error(`error code ${t.errorCode}`));
      const ops = t.topicAuthorizedOperations;
      if (ops === OMITTED) {
        omitted = true;
        continue;
      }
      if (missingTopic && !has(clusterOps, 'Create')) wanted.push('Create');
      const lacking = wanted.filter((op) => !has(ops, op));
      if (has(ops, 'Write')) writesSomeTopic = true;
      if (lacking.length > 0)
        gaps.push({
          resource: 'topic',
          name,
          operations: lacking,
          ...(lacking.includes('Create') ? { note: 'it does not exist yet (or Create on the cluster)' } : {}),
        });
    }
    if (omitted && gaps.length === 0) return { authorizer: 'omitted', gaps: [] };

    if (!has(clusterOps, 'IdempotentWrite') && !writesSomeTopic) {
      const probe = await answer(() => initProducerId.async(c, null, 60_000, -1n, -1));
      if (probe.codes.includes(CLUSTER_AUTHORIZATION_FAILED))
        gaps.push({
          resource: 'cluster',
          name: 'kafka-cluster',
          operations: ['IdempotentWrite'],
          note: 'for the idempotent producer (Write on a topic also allows it, Kafka 3.0+)',
        });
    }

    const txn = needs.transactionalId;
    const coordinator = await answer(() => findCoordinator.async(c, 1, [txn]));
    const describeDenied =
      coordinator.codes.includes(TRANSACTIONAL_ID_AUTHORIZATION_FAILED) ||
      (coordinator.value?.coordinators ?? []).some(
        (x) => x.errorCode === TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
      );
    if (describeDenied) {
      gaps.push({ resource: 'transactional-id', name: txn, operations: ['Describe', 'Write'] });
    } else {
      const end = await answer(() => endTxn.async(c, txn, -1n, -1, false));
      if (end.codes.includes(TRANSACTIONAL_ID_AUTHORIZATION_FAILED))
        gaps.push({ resource: 'transactional-id', name: txn, operations: ['Write'] });
    }
    return { authorizer: 'present', gaps };
  } catch (e) {
    throw kafkaError('APPLY_FAILED', 'check ACLs', e);
  } finally {
    await c.close().catch(() => undefined);
  }
}

/** `--topic T`, `--transactional-id T` or `--cluster`: kafka-acls.sh's resource options of `g`. */
export function aclResourceOption(g: Pick<KafkaAclGap, 'resource' | 'name'>): string {
  return g.resource === 'cluster' ? '--cluster' : `--${g.resource} ${g.name}`;
}

/** One `kafka-acls.sh --add` command allowing `principal` the `operations` on `resource`. */
export function aclCommand(
  bootstrap: string,
  principal: string,
  operations: readonly AclOperationName[],
  resource: string,
): string {
  return `kafka-acls.sh --bootstrap-server ${bootstrap} --add --allow-principal ${principal} ${operations.map((o) => `--operation ${o}`).join(' ')} ${resource}`;
}

/** `Write on topic a.b.c` style text of `g`. */
export function describeGap(g: KafkaAclGap): string {
  const what = g.resource === 'cluster' ? 'the cluster' : `${g.resource} ${g.name}`;
  return `${g.operations.join(', ')} on ${what}${g.note !== undefined ? ` (${g.note})` : ''}`;
}
