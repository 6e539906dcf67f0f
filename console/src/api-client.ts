/**
 * The console's typed client of the control plane API. Its types are the server's own: the zod
 * schemas' inferred types imported from src/control (type-only imports, erased by the build), so a
 * change of a route's shape fails `npm run typecheck` here instead of drifting (console/README.md).
 * The token goes in the Authorization header of every call, never in a URL.
 */
import type { DataSourceView } from '../../src/control/data-source/data-source-schema.ts';
import type { DataSourceTestReport } from '../../src/control/data-source/test-data-source.ts';
import type { SourceObjects } from '../../src/control/api/source-objects-route.ts';
import type { ValidateFilterResult } from '../../src/control/api/validate-filter-route.ts';
import type {
  PrecheckReport,
  TaskAlerts,
  TaskListItem,
  TaskLogs,
  TaskStatus,
  TaskTables,
  TaskView,
  Verification,
} from '../../src/control/api/task-routes.ts';
import type { TaskDefinitionInput } from '../../src/control/task/task-definition-schema.ts';

export type {
  DataSourceTestReport,
  DataSourceView,
  PrecheckReport,
  SourceObjects,
  TaskAlerts,
  TaskDefinitionInput,
  TaskListItem,
  TaskLogs,
  TaskStatus,
  TaskTables,
  TaskView,
  ValidateFilterResult,
  Verification,
};

/** What a verification compares ([V6]): row counts, content hashes by key chunk, or the rows. */
export type VerifyMode = Verification['mode'];

/** One `details.issues` entry of a CONFIG_INVALID answer. */
export interface FieldIssue {
  readonly field: string;
  readonly rule: string;
}

/** A failed API call: the answer's `{code, message, details}`, or a network failure. */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly issues: readonly FieldIssue[] = [],
    readonly hint?: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }

  /**
   * The rules given for `field` (and its sub-fields, `standby.host` for `standby`). Indexes match in
   * either spelling: zod's issues say `objects.0.where`, the task file rules `objects[0].where`.
   */
  issuesOf(field: string): string | undefined {
    const f = dotted(field);
    const r = this.issues.filter((i) => {
      const g = dotted(i.field);
      return g === f || g.startsWith(`${f}.`);
    });
    return r.length === 0 ? undefined : r.map((i) => i.rule).join('; ');
  }
}

/** A field path with `[0]` indexes written `.0`. */
function dotted(field: string): string {
  return field.replace(/\[(\d+)\]/g, '.$1');
}

/** `sessionStorage` key of the API token. */
export const TOKEN_KEY = 'pgdts.token';

/** A data source as POST /api/v1/data-sources takes it (the form's fields). */
export type DataSourceInput = Record<string, unknown> & { id: string; type: 'postgresql' };

/** Calls the API of the `pgdts serve` that served the console (same origin). */
export class ApiClient {
  constructor(private readonly token: string) {}

  /** One call; resolves to the JSON answer (undefined for 204). */
  async call<T>(method: string, path: string, body?: unknown): Promise<T> {
    const headers: Record<string, string> = { authorization: `Bearer ${this.token}` };
    if (body !== undefined) headers['content-type'] = 'application/json';
    let res: Response;
    try {
      res = await fetch(path, {
        method,
        headers,
        ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
      });
    } catch (e) {
      throw new ApiError(0, 'NETWORK', `the server did not answer: ${(e as Error).message}`);
    }
    const text = await res.text();
    let parsed: unknown;
    try {
      parsed = text === '' ? undefined : JSON.parse(text);
    } catch {
      // Not JSON (a proxy's error page): the text is the message.
    }
    if (!res.ok) {
      const b = (parsed ?? {}) as {
        code?: string;
        message?: string;
        details?: { issues?: FieldIssue[]; hint?: string } | null;
      };
      throw new ApiError(
        res.status,
        b.code ?? `HTTP_${res.status}`,
        b.message ?? (text || res.statusText),
        b.details?.issues ?? [],
        b.details?.hint,
      );
    }
    return parsed as T;
  }

  /** `GET /api/v1/data-sources`. */
  async dataSources(): Promise<DataSourceView[]> {
    return (await this.call<{ items: DataSourceView[] }>('GET', '/api/v1/data-sources')).items;
  }
  /** `POST /api/v1/data-sources`. */
  createDataSource(d: DataSourceInput): Promise<DataSourceView> {
    return this.call('POST', '/api/v1/data-sources', d);
  }
  /** `PATCH /api/v1/data-sources/{id}` (`null` clears an optional field). */
  patchDataSource(id: string, patch: Record<string, unknown>): Promise<DataSourceView> {
    return this.call('PATCH', `/api/v1/data-sources/${encodeURIComponent(id)}`, patch);
  }
  /** `DELETE /api/v1/data-sources/{id}`. */
  async deleteDataSource(id: string): Promise<void> {
    await this.call('DELETE', `/api/v1/data-sources/${encodeURIComponent(id)}`);
  }
  /** `POST /api/v1/data-sources/{id}/test?role=`. */
  testDataSource(id: string, role: 'source' | 'destination'): Promise<DataSourceTestReport> {
    return this.call('POST', `/api/v1/data-sources/${encodeURIComponent(id)}/test?role=${role}`);
  }
  /** `GET /api/v1/data-sources/{id}/tables`. */
  sourceObjects(id: string): Promise<SourceObjects> {
    return this.call('GET', `/api/v1/data-sources/${encodeURIComponent(id)}/tables`);
  }
  /** `POST /api/v1/data-sources/{id}/validate-filter`: is `where` a valid condition on the table? */
  validateFilter(
    id: string,
    body: { schema: string; table: string; where: string },
  ): Promise<ValidateFilterResult> {
    return this.call('POST', `/api/v1/data-sources/${encodeURIComponent(id)}/validate-filter`, body);
  }
  /** `GET /api/v1/tasks`: the tasks with their run summaries. */
  async tasks(): Promise<TaskListItem[]> {
    return (await this.call<{ items: TaskListItem[] }>('GET', '/api/v1/tasks')).items;
  }
  /** `POST /api/v1/tasks`. */
  createTask(d: TaskDefinitionInput): Promise<TaskView> {
    return this.call('POST', '/api/v1/tasks', d);
  }
  /** `GET /api/v1/tasks/{id}`. */
  task(id: string): Promise<TaskView> {
    return this.call('GET', `/api/v1/tasks/${id}`);
  }
  /** `PATCH /api/v1/tasks/{id}` (a JSON merge patch). */
  patchTask(id: string, patch: Record<string, unknown>): Promise<TaskView> {
    return this.call('PATCH', `/api/v1/tasks/${id}`, patch);
  }
  /** `DELETE /api/v1/tasks/{id}`. */
  async deleteTask(id: string): Promise<void> {
    await this.call('DELETE', `/api/v1/tasks/${id}`);
  }
  /** `POST /api/v1/tasks/{id}/precheck`. */
  precheck(id: string): Promise<PrecheckReport> {
    return this.call('POST', `/api/v1/tasks/${id}/precheck`);
  }
  /** `GET /api/v1/tasks/{id}/precheck`. */
  lastPrecheck(id: string): Promise<PrecheckReport> {
    return this.call('GET', `/api/v1/tasks/${id}/precheck`);
  }
  /** `POST /api/v1/tasks/{id}/precheck/items/{item}/ignore`. */
  ignore(id: string, item: string): Promise<TaskView> {
    return this.call('POST', `/api/v1/tasks/${id}/precheck/items/${encodeURIComponent(item)}/ignore`);
  }
  /** `POST /api/v1/tasks/{id}/{start|pause|resume|release}`. */
  act(id: string, action: 'start' | 'pause' | 'resume' | 'release'): Promise<unknown> {
    return this.call('POST', `/api/v1/tasks/${id}/${action}`);
  }
  /** `GET /api/v1/tasks/{id}/status`. */
  status(id: string): Promise<TaskStatus> {
    return this.call('GET', `/api/v1/tasks/${id}/status`);
  }
  /** `GET /api/v1/tasks/{id}/alerts`: the alert history, newest first. */
  alerts(id: string): Promise<TaskAlerts> {
    return this.call('GET', `/api/v1/tasks/${id}/alerts?limit=50`);
  }
  /** `GET /api/v1/tasks/{id}/tables`. */
  tables(id: string): Promise<TaskTables> {
    return this.call('GET', `/api/v1/tasks/${id}/tables`);
  }
  /**
   * `POST /api/v1/tasks/{id}/verify`: starts a verification job (202, `queued`); an ApiError of
   * status 409 while a job of the task is queued or running.
   */
  verify(id: string, body: { mode: VerifyMode; tables?: string[] }): Promise<Verification> {
    return this.call('POST', `/api/v1/tasks/${id}/verify`, body);
  }
  /** `GET /api/v1/tasks/{id}/verifications`: the jobs, newest first. */
  verifications(id: string): Promise<Verification[]> {
    return this.call('GET', `/api/v1/tasks/${id}/verifications`);
  }
  /** `GET /api/v1/tasks/{id}/verifications/{vid}`. */
  verification(id: string, vid: string): Promise<Verification> {
    return this.call('GET', `/api/v1/tasks/${id}/verifications/${encodeURIComponent(vid)}`);
  }
  /** `GET /api/v1/tasks/{id}/logs?after=`. */
  logs(id: string, after: number): Promise<TaskLogs> {
    return this.call('GET', `/api/v1/tasks/${id}/logs?after=${after}&limit=200`);
  }
}
