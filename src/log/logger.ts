/**
 * Structured logs of a pgdts process, with pino: one line per event, as JSON (`--log-format json`,
 * for log collectors and the control plane) or as text (`pretty`, via pino-pretty). Every line of a
 * task carries `task` and `phase` fields; secrets are censored by the redact list of redact.ts.
 * Writes are synchronous, so a line is out before the process exits.
 */
import { Writable } from 'node:stream';
import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import { ConfigError } from '../core/errors.ts';
import { censor, SECRET_PATHS } from './redact.ts';

/** `--log-format` values. */
export const LOG_FORMATS = ['pretty', 'json'] as const;
/** `--log-format` value. */
export type LogFormat = (typeof LOG_FORMATS)[number];
/** `--log-level` values, most verbose first (pino's levels). */
export const LOG_LEVELS = ['trace', 'debug', 'info', 'warn', 'error', 'fatal'] as const;
/** `--log-level` value. */
export type LogLevel = (typeof LOG_LEVELS)[number];

/** Options of {@link createLogger}. */
export interface LoggerOptions {
  readonly format: LogFormat;
  readonly level: LogLevel;
  /** Where lines go; default stdout. Called once per line with the whole line. */
  readonly write?: (line: string) => void;
  /** Colour in pretty format (default: when stdout is a TTY). */
  readonly colorize?: boolean;
}

/**
 * Checks `--log-format` / `--log-level` values.
 * @throws {ConfigError} naming the option and the allowed values.
 */
export function parseLogOptions(format: string, level: string): { format: LogFormat; level: LogLevel } {
  if (!(LOG_FORMATS as readonly string[]).includes(format)) {
    throw new ConfigError('--log-format', `must be one of ${LOG_FORMATS.join(', ')}, got "${format}"`);
  }
  if (!(LOG_LEVELS as readonly string[]).includes(level)) {
    throw new ConfigError('--log-level', `must be one of ${LOG_LEVELS.join(', ')}, got "${level}"`);
  }
  return { format: format as LogFormat, level: level as LogLevel };
}

/** A pino logger writing synchronously in `format`, with the redact list applied. */
export function createLogger(o: LoggerOptions): Logger {
  const write = o.write ?? ((line: string) => process.stdout.write(line));
  const options: pino.LoggerOptions = {
    level: o.level,
    base: null,
    timestamp: pino.stdTimeFunctions.isoTime,
    redact: { paths: [...SECRET_PATHS], censor },
    formatters: { level: (label) => ({ level: label }) },
  };
  if (o.format === 'json') {
    return pino(options, { write: (s: string) => write(s) });
  }
  const out = new Writable({
    write(chunk: Buffer | string, _enc, cb) {
      write(chunk.toString());
      cb();
    },
  });
  const stream = pretty({
    destination: out,
    sync: true,
    colorize: o.colorize ?? process.stdout.isTTY === true,
    translateTime: "UTC:yyyy-mm-dd'T'HH:MM:ss.l'Z'",
    ignore: 'pid,hostname,task,phase',
    // `[task phase] message`: the fields every task line carries, then the text.
    messageFormat: (log, messageKey) => {
      const where = [log.task, log.phase].filter((x) => typeof x === 'string' && x !== '').join(' ');
      const m = log[messageKey];
      const msg = typeof m === 'string' ? m : JSON.stringify(m ?? '');
      return where === '' ? msg : `[${where}] ${msg}`;
    },
    hideObject: true,
  });
  return pino(options, stream);
}
