import pino, { type Logger } from 'pino';
import pretty from 'pino-pretty';
import type { Env } from './env.js';

export type { Logger };

/**
 * The server's logger. Pretty, coloured lines when a person is watching (stdout is a
 * terminal and NODE_ENV is not production); one JSON object per line otherwise, for log
 * collectors. `LOG_FORMAT=json|pretty` overrides the guess. `out` (tests) replaces stdout.
 */
export function createLogger(
  env: Pick<Env, 'LOG_LEVEL' | 'NODE_ENV' | 'LOG_FORMAT'>,
  out?: NodeJS.WritableStream & { isTTY?: boolean },
): Logger {
  const tty = out ? out.isTTY === true : process.stdout.isTTY;
  const format = env.LOG_FORMAT ?? (tty && env.NODE_ENV !== 'production' ? 'pretty' : 'json');
  if (format === 'json')
    return out ? pino({ level: env.LOG_LEVEL }, out) : pino({ level: env.LOG_LEVEL });
  // In-process and synchronous (no transport thread): development volumes are small.
  return pino(
    { level: env.LOG_LEVEL },
    pretty({
      colorize: tty,
      translateTime: 'SYS:HH:MM:ss.l',
      ignore: 'pid,hostname',
      sync: true,
      ...(out ? { destination: out } : {}),
    }),
  );
}
