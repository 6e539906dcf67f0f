/**
 * The `pgdts source ...` commands' view of the API: one function per route, over fetch. An answer
 * other than 2xx becomes the PgdtsError the server described (its code, message and field issues);
 * an unreachable server a CONNECTION_FAILED naming the URL.
 */
import { ERROR_CODES, PgdtsError, type ErrorCode } from '../../core/errors.ts';
import type { FieldIssue } from '../api/api-error.ts';
import type { AnyDataSourceView } from '../data-source/data-source-schema.ts';
import type { DataSourceTestReport, TestRole } from '../data-source/test-data-source.ts';
import type { PrecheckReport, TaskLogs, TaskStatus, TaskTables, TaskView } from '../api/task-routes.ts';

/** Default `--server`. */
export const DEFAULT_SERVER = 'http://127.0.0.1:8432';

/** A client of one serve process. */
export class ApiClient {
  readonly #base: string;
  readonly #token: string | undefined;

  /** @param token the bearer token; undefined sends none (the server answers 401). */
  constructor(server: string, token: string | undefined) {
    this.#base = server.replace(/\/+$/, '');
    this.#token = token;
  }

  /** GET /api/v1/data-sources */
  async listDataSources(): Promise<AnyDataSourceView[]> {
    return ((await this.#call('GET', '/api/v1/data-sources')) as { items: AnyDataSourceView[] }).items;
  }

  /** GET /api/v1/data-sources/{id} */
  async getDataSource(id: string): Promise<AnyDataSourceView> {
    return (await this.#call('GET', `/api/v1/data-sources/${encodeURIComponent(id)}`)) as AnyDataSourceView;
  }

  /** POST /api/v1/data-sources */
  async createDataSource(body: Record<string, unknown>): Promise<AnyDataSourceView> {
    return (await this.#call('POST', '/api/v1/data-sources', body)) as AnyDataSourceView;
  }

  /** DELETE /api/v1/data-sources/{id} */
  async deleteDataSource(id: string): Promise<void> {
    await this.#call('DELETE', `/api/v1/data-sources/${encodeURIComponent(id)}`);
  }

  /** POST /api/v1/data-sources/{id}/test?role= (no role: the data source type's default). */
  async testDataSource(id: string, role: TestRole | undefined): Promise<DataSourceTestReport> {
    return (await this.#call(
      'POST',
      `/api/v1/data-sources/${encodeURIComponent(id)}/test${role === undefined ? '' : `?role=${role}`}`,
    )) as DataSourceTestReport;
  }

  /** GET /api/v1/tasks */
  async listTasks(): Promise<TaskView[]> {
    return ((await this.#call('GET', '/api/v1/tasks')) as { items: TaskView[] }).items;
  }

  /** POST /api/v1/tasks */
  async createTask(definition: unknown): Promise<TaskView> {
    return (await this.#call('POST', '/api/v1/tasks', definition)) as TaskView;
  }

  /** GET /api/v1/tasks/{id} */
  async getTask(id: string): Promise<TaskView> {
    return (await this.#call('GET', `/api/v1/tasks/${encodeURIComponent(id)}`)) as TaskView;
  }

  /** PATCH /api/v1/tasks/{id} (a JSON merge patch of the definition) */
  async patchTask(id: string, patch: unknown): Promise<TaskView> {
    return (await this.#call('PATCH', `/api/v1/tasks/${encodeURIComponent(id)}`, patch)) as TaskView;
  }

  /** DELETE /api/v1/tasks/{id} */
  async deleteTask(id: string): Promise<void> {
    await this.#call('DELETE', `/api/v1/tasks/${encodeURIComponent(id)}`);
  }

  /** POST /api/v1/tasks/{id}/precheck (runs it, answers the report) */
  async precheckTask(id: string): Promise<PrecheckReport> {
    return (await this.#call('POST', `/api/v1/tasks/${encodeURIComponent(id)}/precheck`)) as PrecheckReport;
  }

  /** GET /api/v1/tasks/{id}/precheck */
  async getPrecheck(id: string): Promise<PrecheckReport> {
    return (await this.#call('GET', `/api/v1/tasks/${encodeURIComponent(id)}/precheck`)) as PrecheckReport;
  }

  /** POST /api/v1/tasks/{id}/precheck/items/{item}/ignore */
  async ignorePrecheckItem(id: string, item: string): Promise<TaskView> {
    return (await this.#call(
      'POST',
      `/api/v1/tasks/${encodeURIComponent(id)}/precheck/items/${encodeURIComponent(item)}/ignore`,
    )) as TaskView;
  }

  /** POST /api/v1/tasks/{id}/{start|pause|resume} */
  async actOnTask(id: string, action: 'start' | 'pause' | 'resume'): Promise<TaskView> {
    return (await this.#call('POST', `/api/v1/tasks/${encodeURIComponent(id)}/${action}`)) as TaskView;
  }

  /** POST /api/v1/tasks/{id}/release */
  async releaseTask(id: string): Promise<{
    task: TaskView;
    slotDropped: boolean;
    publicationDropped: boolean;
    ddlCaptureDropped: boolean;
  }> {
    return (await this.#call('POST', `/api/v1/tasks/${encodeURIComponent(id)}/release`)) as {
      task: TaskView;
      slotDropped: boolean;
      publicationDropped: boolean;
      ddlCaptureDropped: boolean;
    };
  }

  /** GET /api/v1/tasks/{id}/status */
  async taskStatus(id: string): Promise<TaskStatus> {
    return (await this.#call('GET', `/api/v1/tasks/${encodeURIComponent(id)}/status`)) as TaskStatus;
  }

  /** GET /api/v1/tasks/{id}/tables */
  async taskTables(id: string): Promise<TaskTables> {
    return (await this.#call('GET', `/api/v1/tasks/${encodeURIComponent(id)}/tables`)) as TaskTables;
  }

  /** GET /api/v1/tasks/{id}/logs?after=&since= */
  async taskLogs(id: string, o: { after?: number; since?: string } = {}): Promise<TaskLogs> {
    const q = new URLSearchParams();
    if (o.after !== undefined) q.set('after', String(o.after));
    if (o.since !== undefined) q.set('since', o.since);
    const qs = q.toString();
    return (await this.#call(
      'GET',
      `/api/v1/tasks/${encodeURIComponent(id)}/logs${qs === '' ? '' : `?${qs}`}`,
    )) as TaskLogs;
  }

  async #call(method: string, route: string, body?: unknown): Promise<unknown> {
    const headers: Record<string, string> = {};
    if (this.#token !== undefined) headers.authorization = `Bearer ${this.#token}`;
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(`${this.#base}${route}`, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      const cause = (e as { cause?: { code?: string; message?: string } }).cause;
      throw new PgdtsError(
        'CONNECTION_FAILED',
        `cannot reach pgdts serve at ${this.#base}: ${cause?.code ?? cause?.message ?? String(e)}`,
        { cause: e, hint: 'start `pgdts serve`, or pass --server URL' },
      );
    }
    const text = await res.text();
    const parsed: unknown = text === '' ? null : JSON.parse(text);
    if (res.ok) return parsed;
    throw errorOf(res.status, parsed);
  }
}

/** The PgdtsError of an error answer (`{code, message, details}`), field issues in its message. */
function errorOf(status: number, body: unknown): PgdtsError {
  const b = (body ?? {}) as {
    code?: string;
    message?: string;
    details?: { issues?: FieldIssue[]; hint?: string };
  };
  const code: ErrorCode = b.code !== undefined && b.code in ERROR_CODES ? (b.code as ErrorCode) : 'INTERNAL';
  const hint = b.details?.hint;
  return new PgdtsError(code, b.message ?? `HTTP ${status}`, hint !== undefined ? { hint } : {});
}
