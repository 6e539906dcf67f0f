/** Reads and validates a task file (YAML) from disk. */
import { readFileSync } from 'node:fs';
import { parse } from 'yaml';
import { ConfigError } from '../core/errors.ts';
import { parseTaskConfig, type TaskConfig } from '../core/task-config.ts';

/**
 * Loads `path` as a task file.
 * @throws {ConfigError} when the file cannot be read, is not YAML, or breaks a rule (the key is named).
 */
export function loadTaskFile(path: string): TaskConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (e) {
    throw new ConfigError(
      path,
      `cannot read the task file (${(e as NodeJS.ErrnoException).code ?? 'error'})`,
    );
  }
  let doc: unknown;
  try {
    doc = parse(text);
  } catch (e) {
    // YAML errors quote the offending line, which could hold a password: keep only the position.
    const pos = (e as { linePos?: { line: number; col: number }[] }).linePos?.[0];
    throw new ConfigError(path, `not valid YAML${pos ? ` (line ${pos.line}, column ${pos.col})` : ''}`);
  }
  return parseTaskConfig(doc);
}
