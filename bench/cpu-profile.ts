/**
 * CPU accounting of `npm run bench -- --profile W2`: CPU time of a process from /proc, CPU time of the
 * PostgreSQL backends serving a consumer (found through pg_stat_activity / pg_replication_slots), and
 * the self time of a V8 CPU profile (`node --cpu-prof`) summed by source file into categories.
 */
import { readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type { EmbeddedServer } from '../src/embedded/embedded-server.ts';

/** Kernel clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on every Linux we run on). */
const CLOCK_TICKS = 100;

/**
 * User + system CPU time of one process, ms (fields 14 and 15 of /proc/<pid>/stat), or undefined when
 * it has exited. Counts the process's own threads, not its reaped children.
 */
export function processCpuMs(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may hold spaces and parentheses: the fields after the last ')' are fixed (state is field 3).
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return ((Number(f[11]) + Number(f[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}

/** Sum of {@link processCpuMs} over `pids`, ms (exited ones count 0). */
export function cpuMsOf(pids: readonly number[]): number {
  return pids.reduce((n, p) => n + (processCpuMs(p) ?? 0), 0);
}

/**
 * Pids of the backends connected to database `db` of `server`, except the querying one (so the
 * destination's apply backends of one consumer: pgdts connections or the native apply worker).
 */
export async function backendPids(server: EmbeddedServer, db: string): Promise<number[]> {
  const rows = await server.query<{ pid: number }>(
    'postgres',
    "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND pid <> pg_backend_pid() AND backend_type IN ('client backend', 'logical replication worker')",
    [db],
  );
  return rows.map((r) => r.pid);
}

/** Pid of the walsender streaming slot `slot`, or undefined when the slot is not active. */
export async function walsenderPid(server: EmbeddedServer, slot: string): Promise<number | undefined> {
  const rows = await server.query<{ pid: number | null }>(
    'postgres',
    'SELECT active_pid AS pid FROM pg_replication_slots WHERE slot_name = $1',
    [slot],
  );
  return rows[0]?.pid ?? undefined;
}

/** Self-time categories of a pgdts CPU profile. */
export const CPU_CATEGORIES = [
  'decode',
  'apply-sql',
  'pg-driver',
  'pipeline',
  'node-internal',
  'loader',
  'packages',
  'gc',
  'v8-other',
  'idle',
] as const;
/** One category of {@link CPU_CATEGORIES}. */
export type CpuCategory = (typeof CPU_CATEGORIES)[number];

interface ProfileNode {
  readonly id: number;
  readonly callFrame: { readonly url: string; readonly functionName: string };
  readonly children?: readonly number[];
}

interface CpuProfile {
  readonly nodes: readonly ProfileNode[];
  readonly samples: readonly number[];
  readonly timeDeltas: readonly number[];
}

function categoryOfUrl(url: string): CpuCategory | undefined {
  if (url === '') return undefined;
  // src/ through tsx, dist/ when built (bin/pgdts.js runs dist/ when it is newer than src/).
  if (/\/(?:src|dist)\/source\//.test(url)) return 'decode';
  if (/\/(?:src|dist)\/sink\/postgres\/apply\//.test(url)) return 'apply-sql';
  if (url.includes('/node_modules/pg') || url.includes('/node_modules/pg-protocol/')) return 'pg-driver';
  if (url.includes('/node_modules/tsx/') || url.includes('/node_modules/esbuild/')) return 'loader';
  if (url.includes('/node_modules/')) return 'packages';
  if (/\/(?:src|dist)\//.test(url)) return 'pipeline';
  return 'node-internal';
}

/**
 * Self time per category of every `*.cpuprofile` in `dir`, ms. A native function without a script
 * (a builtin such as `String.prototype.replace`) is charged to its nearest caller with a URL, so
 * quoting counts where it is called: decode under src/source (pgoutput parsing), apply-sql under
 * src/sink/postgres/apply (coalescing, SQL text building), pg-driver for the pg and pg-protocol
 * packages, loader for tsx (TypeScript compiled at start-up), packages for other packages, pipeline
 * for the rest of src, node-internal for node's own modules (streams, sockets, module loading);
 * `(garbage collector)` is gc, `(program)` v8-other, `(idle)` idle. With `top` > 0 also returns the
 * `top` functions by self time (`ms function url:line`).
 * @throws {Error} when a file is not a CPU profile (JSON without nodes/samples).
 */
export function summarizeCpuProfiles(
  dir: string,
  top = 0,
): { categories: Record<CpuCategory, number>; top: string[] } {
  const fnMs = new Map<string, number>();
  const out = Object.fromEntries(CPU_CATEGORIES.map((c) => [c, 0])) as Record<CpuCategory, number>;
  for (const f of readdirSync(dir).filter((n) => n.endsWith('.cpuprofile'))) {
    const p = JSON.parse(readFileSync(path.join(dir, f), 'utf8')) as CpuProfile;
    const byId = new Map(p.nodes.map((n) => [n.id, n]));
    const parent = new Map<number, number>();
    for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
    const cat = new Map<number, CpuCategory>();
    const categoryOf = (id: number): CpuCategory => {
      const known = cat.get(id);
      if (known !== undefined) return known;
      const n = byId.get(id);
      let c: CpuCategory;
      if (!n) c = 'v8-other';
      else if (n.callFrame.functionName === '(garbage collector)') c = 'gc';
      else if (n.callFrame.functionName === '(idle)') c = 'idle';
      else if (n.callFrame.functionName === '(program)') c = 'v8-other';
      else {
        const up = parent.get(id);
        c = categoryOfUrl(n.callFrame.url) ?? (up === undefined ? 'node-internal' : categoryOf(up));
      }
      cat.set(id, c);
      return c;
    };
    // timeDeltas[i] is the time from sample i-1 to sample i, µs: charge it to sample i.
    p.samples.forEach((id, i) => {
      const ms = (p.timeDeltas[i] ?? 0) / 1000;
      out[categoryOf(id)] += ms;
      if (top > 0) {
        const f = byId.get(id)?.callFrame;
        const k = `${f?.functionName || '(anonymous)'} ${f?.url ?? ''}`;
        fnMs.set(k, (fnMs.get(k) ?? 0) + ms);
      }
    });
  }
  const ranked = [...fnMs].sort((a, b) => b[1] - a[1]).slice(0, top);
  return { categories: out, top: ranked.map(([k, ms]) => `${ms.toFixed(0).padStart(6)} ms ${k}`) };
}
