/** What the commands talking to a pgdts serve share: the client, JSON output, text tables. */
import { API_TOKEN_ENV } from '../control/api/api-token.ts';
import { ApiClient } from '../control/client/api-client.ts';

/** Options every command of the API takes. */
export interface ClientOptions {
  readonly server: string;
  readonly json?: boolean;
}

/** The API client of `--server`, with the token of PGDTS_API_TOKEN. */
export function client(o: ClientOptions): ApiClient {
  // The token comes from the environment only: a command line is visible to every user.
  const token = process.env[API_TOKEN_ENV];
  return new ApiClient(o.server, token === undefined || token === '' ? undefined : token);
}

/** Prints `v` as indented JSON (for `--json`). */
export function printJson(v: unknown): void {
  process.stdout.write(`${JSON.stringify(v, null, 2)}\n`);
}

/** Columns padded to their widest cell. */
export function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]) =>
    cells
      .map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  return [line(header), ...rows.map(line)].join('\n');
}
