/**
 * A control plane store in a fresh test database with two data sources and tasks between them,
 * created through the store's own methods (for the metrics and alerts tests, which drive a task's
 * state and status the way the API and the worker do).
 */
import { randomBytes } from 'node:crypto';
import { SecretBox } from '../../src/control/secrets/secret-box.ts';
import { ControlStore } from '../../src/control/store/control-store.ts';
import type { StoredTask } from '../../src/control/store/task-store.ts';
import {
  parseTaskDefinition,
  type TaskDefinitionInput,
} from '../../src/control/task/task-definition-schema.ts';
import type { TaskState } from '../../src/control/task/task-state.ts';
import { initialRunStatus, type RunStatus } from '../../src/control/task/task-status.ts';
import { freshDatabase, urlOf, type TestServer } from './servers.ts';

/** Opens a store in a fresh database of `server` holding data sources `src1` and `dst1`. */
export async function storeWithDataSources(server: TestServer, prefix: string): Promise<ControlStore> {
  const db = await freshDatabase(server, prefix);
  const store = await ControlStore.open(urlOf(server, db), new SecretBox(randomBytes(32)));
  for (const id of ['src1', 'dst1']) {
    await store.insertDataSource({
      id,
      type: 'postgresql',
      region: null,
      attributes: 'primary',
      standby: null,
      heartbeat: false,
      host: '127.0.0.1',
      port: server.port,
      username: 'postgres',
      password: 'not-used-here',
      database: 'postgres',
      schema: null,
      sslmode: 'disable',
      caCertificate: null,
      clientCertificate: null,
      clientKey: null,
      clientKeyPassword: null,
      remarks: null,
    });
  }
  return store;
}

/** Creates a task from src1 to dst1 (state `created`); the definition is validated first. */
export async function createTask(
  store: ControlStore,
  o: { name: string; alerts?: TaskDefinitionInput['alerts'] },
): Promise<StoredTask> {
  const definition: TaskDefinitionInput = {
    name: o.name,
    source: { dataSource: 'src1' },
    destination: { dataSource: 'dst1' },
    syncTypes: ['full', 'incremental'],
    objects: [{ schema: 'public' }],
    ...(o.alerts !== undefined ? { alerts: o.alerts } : {}),
  };
  parseTaskDefinition(definition);
  const id = `t${randomBytes(8).toString('hex').slice(0, 12)}`;
  return store.tasks.create({ id, name: o.name, sourceId: 'src1', destinationId: 'dst1', definition });
}

/** Moves a created task through its precheck to `running`, as the API and a worker would. */
export async function startTask(store: ControlStore, id: string, workerId = 'w1'): Promise<StoredTask> {
  const steps: [TaskState, TaskState][] = [
    ['created', 'prechecking'],
    ['prechecking', 'precheck-passed'],
    ['precheck-passed', 'running'],
  ];
  for (const [from, to] of steps) {
    const t = await store.tasks.transition(id, from, to, to === 'running' ? { started: true } : {});
    if (t === undefined) throw new Error(`task ${id}: ${from} → ${to} did not apply`);
  }
  await store.tasks.claim(id, workerId);
  return mustGet(store, id);
}

/** Writes a status as the worker would (`patch` over the initial status). */
export async function writeStatus(
  store: ControlStore,
  id: string,
  patch: Partial<RunStatus>,
  retries = 0,
): Promise<StoredTask> {
  await store.tasks.writeObservations(id, {
    status: { ...initialRunStatus(), ...patch },
    tables: [],
    logs: [],
    retries,
  });
  return mustGet(store, id);
}

/** The task `id` (it must exist). */
export async function mustGet(store: ControlStore, id: string): Promise<StoredTask> {
  const t = await store.tasks.get(id);
  if (t === undefined) throw new Error(`no task ${id}`);
  return t;
}
