import { PassThrough } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger } from '../src/logger.js';

/** A stream that remembers what was written and says whether it is a terminal. */
function sink(isTTY: boolean) {
  const s = Object.assign(new PassThrough(), { isTTY });
  let text = '';
  s.on('data', (d: Buffer) => (text += d.toString()));
  return { s, text: () => text };
}

describe('createLogger', () => {
  const base = { LOG_LEVEL: 'info' as const, LOG_FORMAT: undefined };

  it('writes pretty lines to a terminal outside production', () => {
    const out = sink(true);
    createLogger({ ...base, NODE_ENV: 'development' }, out.s).info({ port: 3000 }, 'listening');
    expect(out.text()).toContain('listening');
    expect(out.text()).toContain('port');
    expect(() => JSON.parse(out.text())).toThrow();
  });

  it('writes one JSON object per line when no terminal is attached', () => {
    const out = sink(false);
    createLogger({ ...base, NODE_ENV: 'development' }, out.s).info({ port: 3000 }, 'listening');
    expect(JSON.parse(out.text())).toMatchObject({ level: 30, msg: 'listening', port: 3000 });
  });

  it('writes JSON in production even on a terminal', () => {
    const out = sink(true);
    createLogger({ ...base, NODE_ENV: 'production' }, out.s).info('up');
    expect(JSON.parse(out.text())).toMatchObject({ msg: 'up' });
  });

  it('LOG_FORMAT overrides the guess', () => {
    const json = sink(true);
    createLogger({ ...base, NODE_ENV: 'development', LOG_FORMAT: 'json' }, json.s).info('a');
    expect(JSON.parse(json.text())).toMatchObject({ msg: 'a' });
    const pretty = sink(false);
    createLogger({ ...base, NODE_ENV: 'production', LOG_FORMAT: 'pretty' }, pretty.s).info('b');
    expect(pretty.text()).toMatch(/INFO.*b/);
  });
});
