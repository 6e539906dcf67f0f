/** Text rendering of precheck results for the terminal and logs. */
import type { PrecheckResult, PrecheckStatus } from '../../core/precheck.ts';

const LABEL: Record<PrecheckStatus, string> = { pass: 'PASS', warn: 'WARN', fail: 'FAIL' };

/**
 * One line per check, `PASS|WARN|FAIL  title: message`, with the fix hint on the next line indented
 * (`      fix: ...`), then a summary line counting each status.
 */
export function formatPrecheckReport(results: readonly PrecheckResult[]): string {
  const lines: string[] = [];
  for (const r of results) {
    lines.push(`${LABEL[r.status]}  ${r.title}: ${r.message}`);
    if (r.fix !== undefined && r.status !== 'pass') lines.push(`      fix: ${r.fix}`);
  }
  const count = (s: PrecheckStatus) => results.filter((r) => r.status === s).length;
  lines.push(`${count('pass')} passed, ${count('warn')} warning(s), ${count('fail')} failed`);
  return lines.join('\n');
}
