import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import { DIALECTS } from '@credits/store/testing';
import { findPlan } from '@credits/domain';
import { appRouter } from '../src/index.js';
import { errorOf, key, makeApi, type ApiHarness, type ErrorInfo } from './factory.js';

/**
 * Bad input (issue 2, "Must show"): negative, zero, fractional, huge and non-numeric amounts,
 * unknown wallets, job kinds and types, unknown fields, oversized strings, cursors that are not
 * ours. Each is refused with BAD_REQUEST and a machine-readable reason (never a 500) and leaves
 * the ledger exactly as it was. Every case runs through `createCaller` and again over HTTP
 * (tRPC's fetch adapter: JSON on the wire, so NaN arrives as null and 1e400 as Infinity).
 */

interface Ids {
  workspaceId: string;
  holdId: string;
}

interface Case {
  name: string;
  path: string;
  type: 'query' | 'mutation';
  input: (ids: Ids) => unknown;
  /** Expected `data.reason`; VALIDATION unless said otherwise. */
  reason?: string;
  /** Expected tRPC code; BAD_REQUEST unless said otherwise. */
  code?: string;
}

const KB = 1024;
const big = (n: number) => 'x'.repeat(n);
const b64 = (v: string) => Buffer.from(v).toString('base64url');

/** Values that are not a positive whole number of credits. */
const NOT_POSITIVE_INT: [string, unknown][] = [
  ['negative', -5],
  ['zero', 0],
  ['negative zero', -0],
  ['fractional', 1.5],
  ['tiny fraction', 1e-9],
  ['huge 1e20', 1e20],
  ['MAX_SAFE_INTEGER+2', Number.MAX_SAFE_INTEGER + 2],
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
  ['numeric string "100"', '100'],
  ['string "NaN"', 'NaN'],
  ['string "1e3"', '1e3'],
  ['hex string', '0x10'],
  ['empty string', ''],
  ['null', null],
  ['boolean', true],
  ['object', { value: 5 }],
  ['array', [5]],
  ['missing', undefined],
];

const video = { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' };
const image = { kind: 'image', type: 'logo', count: 1 };
const ai = { kind: 'ai', tokens: 100 };

function grantInput(ids: Ids, over: Record<string, unknown>) {
  return {
    workspaceId: ids.workspaceId,
    wallet: 'image_credits',
    amount: 10,
    reason: 'Support credit',
    idempotencyKey: key('bad'),
    ...over,
  };
}
const jobWrite = (ids: Ids, job: unknown, over: Record<string, unknown> = {}) => ({
  workspaceId: ids.workspaceId,
  job,
  idempotencyKey: key('bad'),
  ...over,
});

function cases(): Case[] {
  const out: Case[] = [];
  const grant = (name: string, over: Record<string, unknown>, extra: Partial<Case> = {}) =>
    out.push({
      name: `admin.ledger.grant: ${name}`,
      path: 'admin.ledger.grant',
      type: 'mutation',
      input: (ids) => grantInput(ids, over),
      ...extra,
    });

  // Amounts.
  for (const [name, amount] of NOT_POSITIVE_INT) grant(`amount ${name}`, { amount });
  grant('amount above the 1e9 ceiling', { amount: 1_000_000_001 });
  // Wallets, sources, expiry.
  for (const wallet of ['gold_credits', 'AI_TOKENS', '', 'audio credits', null])
    grant(`unknown wallet ${JSON.stringify(wallet)}`, { wallet });
  grant('unknown source', { source: 'gift' });
  grant('expiresAt negative', { expiresAt: -1 });
  grant('expiresAt fractional', { expiresAt: Date.UTC(2027, 0, 1) + 0.5 });
  grant('expiresAt a string', { expiresAt: '2027-01-01' });
  grant('expiresAt in the past', { expiresAt: Date.UTC(2020, 0, 1) });
  grant('expiresAt beyond the date range', { expiresAt: 1e20 });
  // Strings.
  grant('reason empty', { reason: '' });
  grant('reason only spaces', { reason: '    ' });
  grant('reason 10 KB', { reason: big(10 * KB) });
  grant('idempotencyKey empty', { idempotencyKey: '' });
  grant('idempotencyKey 10 KB', { idempotencyKey: big(10 * KB) });
  grant('idempotencyKey a number', { idempotencyKey: 12345 });
  grant('workspaceId 1 KB', { workspaceId: big(KB) });
  grant('workspaceId empty', { workspaceId: '' });
  // Unknown fields.
  grant('unknown field', { note: 'hi' });
  grant(
    'unknown field named __proto__',
    JSON.parse('{"__proto__": {"amount": 5}}') as Record<string, unknown>,
  );
  grant('unknown field named constructor', { constructor: 'x' });
  grant(
    'unknown workspace',
    { workspaceId: 'ws_does_not_exist' },
    { reason: 'WORKSPACE_NOT_FOUND', code: 'NOT_FOUND' },
  );

  // Jobs, for every write that takes one and for quote.
  const badJobs: [string, unknown][] = [];
  for (const [name, durationSec] of NOT_POSITIVE_INT)
    badJobs.push([`video durationSec ${name}`, { ...video, durationSec }]);
  badJobs.push(['video durationSec above 600', { ...video, durationSec: 601 }]);
  for (const [name, count] of NOT_POSITIVE_INT)
    badJobs.push([`image count ${name}`, { ...image, count }]);
  badJobs.push(['image count above 100', { ...image, count: 101 }]);
  for (const [name, tokens] of NOT_POSITIVE_INT)
    badJobs.push([`ai tokens ${name}`, { ...ai, tokens }]);
  badJobs.push(
    ['unknown job kind', { kind: 'hologram', durationSec: 5 }],
    ['job kind missing', { type: 'standard', durationSec: 5, resolution: '720p' }],
    ['unknown video type', { ...video, type: 'ultra' }],
    ['unknown image type', { ...image, type: 'selfie' }],
    ['unknown resolution', { ...video, resolution: '8k' }],
    ['unknown image quality', { ...image, quality: 'ultra' }],
    ['unknown audio type', { kind: 'audio', type: 'podcast' }],
    ['unknown field in the job', { ...video, priority: 'high' }],
    ['unknown field in the job options', { ...video, options: { audio: true, loud: true } }],
    ['fps not offered', { ...video, options: { fps: 25 } }],
    [
      'referenceImages fractional',
      { ...video, type: 'reference', options: { referenceImages: 1.5 } },
    ],
    ['job is a string', 'video'],
    ['job is null', null],
    ['job is an array', [video]],
  );
  for (const [name, job] of badJobs) {
    out.push({
      name: `usage.quote: ${name}`,
      path: 'usage.quote',
      type: 'query',
      input: (ids) => ({ workspaceId: ids.workspaceId, job }),
    });
    out.push({
      name: `usage.reserve: ${name}`,
      path: 'usage.reserve',
      type: 'mutation',
      input: (ids) => jobWrite(ids, job),
    });
    out.push({
      name: `usage.charge: ${name}`,
      path: 'usage.charge',
      type: 'mutation',
      input: (ids) => jobWrite(ids, job),
    });
  }
  const reserve = (name: string, over: Record<string, unknown>, extra: Partial<Case> = {}) =>
    out.push({
      name: `usage.reserve: ${name}`,
      path: 'usage.reserve',
      type: 'mutation',
      input: (ids) => jobWrite(ids, video, over),
      ...extra,
    });
  reserve('unknown top-level field', { dryRun: true });
  reserve('ttlSec below 10', { ttlSec: 5 });
  reserve('ttlSec fractional', { ttlSec: 60.5 });
  reserve('ttlSec huge', { ttlSec: 1e20 });
  reserve('ttlSec a string', { ttlSec: '60' });
  reserve('idempotencyKey 10 KB', { idempotencyKey: big(10 * KB) });
  reserve('idempotencyKey missing', { idempotencyKey: undefined });
  reserve('workspaceId 1 KB', { workspaceId: big(KB) });
  reserve('workspaceId a number', { workspaceId: 42 });
  reserve(
    'unknown workspace',
    { workspaceId: 'ws_does_not_exist' },
    { reason: 'WORKSPACE_NOT_FOUND', code: 'NOT_FOUND' },
  );

  // Capture and release.
  const capture = (name: string, over: Record<string, unknown>, extra: Partial<Case> = {}) =>
    out.push({
      name: `usage.capture: ${name}`,
      path: 'usage.capture',
      type: 'mutation',
      input: (ids) => ({
        workspaceId: ids.workspaceId,
        holdId: ids.holdId,
        idempotencyKey: key('bad'),
        ...over,
      }),
      ...extra,
    });
  for (const [name, credits] of NOT_POSITIVE_INT) {
    if (credits === 0 || Object.is(credits, -0) || credits === undefined) continue; // 0 and omitted are valid captures
    capture(`credits ${name}`, { credits });
  }
  capture('credits above the hold', { credits: 51 }, { reason: 'CAPTURE_EXCEEDS_HOLD' });
  capture('both actual and credits', { actual: { ...video, durationSec: 3 }, credits: 10 });
  capture('actual with a fractional duration', { actual: { ...video, durationSec: 2.5 } });
  capture('actual of another kind', { actual: image }, { reason: 'VALIDATION' });
  capture('unknown field', { force: true });
  capture('holdId empty', { holdId: '' });
  capture('holdId 1 KB', { holdId: big(KB) });
  capture('idempotencyKey 10 KB', { idempotencyKey: big(10 * KB) });
  const release = (name: string, over: Record<string, unknown>) =>
    out.push({
      name: `usage.release: ${name}`,
      path: 'usage.release',
      type: 'mutation',
      input: (ids) => ({
        workspaceId: ids.workspaceId,
        holdId: ids.holdId,
        idempotencyKey: key('bad'),
        ...over,
      }),
    });
  release('unknown field', { reason: 'cancelled' });
  release('holdId a number', { holdId: 7 });
  release('idempotencyKey 10 KB', { idempotencyKey: big(10 * KB) });
  release('workspaceId 1 KB', { workspaceId: big(KB) });

  // Reads: wallets, history, jobs.
  out.push(
    {
      name: 'wallets.get: unknown wallet',
      path: 'wallets.get',
      type: 'query',
      input: (ids) => ({ workspaceId: ids.workspaceId, wallet: 'gold_credits' }),
    },
    {
      name: 'wallets.list: unknown field',
      path: 'wallets.list',
      type: 'query',
      input: (ids) => ({ workspaceId: ids.workspaceId, all: true }),
    },
    {
      name: 'wallets.list: workspaceId 1 KB',
      path: 'wallets.list',
      type: 'query',
      input: () => ({ workspaceId: big(KB) }),
    },
    { name: 'wallets.list: no input', path: 'wallets.list', type: 'query', input: () => undefined },
  );
  const history = (name: string, over: Record<string, unknown>) =>
    out.push({
      name: `usage.history: ${name}`,
      path: 'usage.history',
      type: 'query',
      input: (ids) => ({ workspaceId: ids.workspaceId, ...over }),
    });
  const notOurCursors: [string, string][] = [
    ['garbage', 'not-a-cursor'],
    ['base64 of text', b64('hello world')],
    ['base64 of the wrong shape', b64('["abc"]')],
    ['base64 of an object', b64('{"id":5}')],
    ['base64 of two numbers', b64('[5,6]')],
    ['base64 of a fractional id', b64('[1.5]')],
    ['base64 of an id beyond 2^53', b64('[1e30]')],
    ['base64 of an infinite id', b64('[1e400]')],
    ['1 KB', big(KB)],
  ];
  for (const [name, cursor] of notOurCursors) history(`cursor not ours: ${name}`, { cursor });
  history('unknown wallet', { wallet: 'gold_credits' });
  history('unknown entry type', { types: ['gift'] });
  history('limit 0', { limit: 0 });
  history('limit above 200', { limit: 201 });
  history('limit fractional', { limit: 2.5 });
  history('limit a string', { limit: '10' });
  history('from negative', { from: -1 });
  history('unknown field', { order: 'asc' });
  const jobs = (name: string, over: Record<string, unknown>) =>
    out.push({
      name: `usage.jobs: ${name}`,
      path: 'usage.jobs',
      type: 'query',
      input: (ids) => ({ workspaceId: ids.workspaceId, ...over }),
    });
  jobs('unknown status', { status: 'running' });
  jobs('cursor not ours', { cursor: 'not-a-cursor' });
  jobs('cursor of the wrong shape', { cursor: b64('[5]') });
  jobs('cursor with a fractional time', { cursor: b64('[1.5,"hold_x"]') });
  jobs('cursor with an infinite time', { cursor: b64('[1e400,"hold_x"]') });
  jobs('limit 1e20', { limit: 1e20 });

  // Workspaces.
  const create = (name: string, over: Record<string, unknown>, extra: Partial<Case> = {}) =>
    out.push({
      name: `admin.workspaces.create: ${name}`,
      path: 'admin.workspaces.create',
      type: 'mutation',
      input: () => ({ name: 'New workspace', plan: 'pro', idempotencyKey: key('bad'), ...over }),
      ...extra,
    });
  // Plans are data admins edit: a well-formed id that names no plan is not found.
  create('unknown plan', { plan: 'enterprise' }, { code: 'NOT_FOUND', reason: 'NOT_FOUND' });
  create('plan id that cannot be one', { plan: 'Enterprise Plan!' });
  create('plan id 1 KB', { plan: big(KB) });
  create('name 10 KB', { name: big(10 * KB) });
  create('name empty', { name: '' });
  create('id with spaces', { id: 'a b c' });
  create('id 1 KB', { id: big(KB) });
  create('billingAnchorDay 0', { billingAnchorDay: 0 });
  create('billingAnchorDay 32', { billingAnchorDay: 32 });
  create('billingAnchorDay fractional', { billingAnchorDay: 1.5 });
  create('unknown field', { credits: 1_000_000 });
  create('idempotencyKey 10 KB', { idempotencyKey: big(10 * KB) });
  return out;
}

const CASES = cases();

type AnyProcedure = (input: unknown) => Promise<unknown>;

function procedureAt(api: unknown, path: string): AnyProcedure {
  return path
    .split('.')
    .reduce<unknown>((node, part) => (node as Record<string, unknown>)[part], api) as AnyProcedure;
}

/** Call a procedure over HTTP through tRPC's fetch adapter; return the error as the client sees it. */
async function httpErrorOf(
  h: ApiHarness,
  c: Case,
  input: unknown,
): Promise<ErrorInfo & { status: number }> {
  const encoded = input === undefined ? '' : JSON.stringify(input);
  const url = `http://localhost/trpc/${c.path}`;
  const req =
    c.type === 'query'
      ? new Request(input === undefined ? url : `${url}?input=${encodeURIComponent(encoded)}`)
      : new Request(url, {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: encoded,
        });
  const res = await fetchRequestHandler({
    endpoint: '/trpc',
    req,
    router: appRouter,
    createContext: () => h.ctx,
  });
  const body = (await res.json()) as {
    result?: unknown;
    error?: {
      message: string;
      data: {
        code: string;
        httpStatus: number;
        reason: string | null;
        details: Record<string, unknown> | null;
      };
    };
  };
  if (!body.error)
    throw new Error(
      `expected ${c.path} to fail over HTTP, got ${res.status} ${JSON.stringify(body).slice(0, 200)}`,
    );
  const { data } = body.error;
  return {
    status: res.status,
    code: data.code,
    httpStatus: data.httpStatus,
    reason: data.reason,
    details: data.details,
    message: body.error.message,
  };
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`bad input on ${dialect.name}`, () => {
    let h: ApiHarness;
    let ids: Ids;
    beforeAll(async () => {
      h = await makeApi(dialect);
      await h.grant('video_credits', 500);
      await h.grant('image_credits', 100);
      await h.grant('ai_tokens', 10_000);
      // An open hold of 50 for capture and release to aim at.
      const hold = await h.api.usage.reserve({
        workspaceId: h.workspaceId,
        job: { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' },
        idempotencyKey: key(),
      });
      ids = { workspaceId: h.workspaceId, holdId: hold.holdId };
    });
    afterAll(async () => {
      if (!h) return;
      const report = await h.store.verify();
      expect(report.violations).toEqual([]);
      await h.cleanup();
    });

    describe('through createCaller', () => {
      it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
        const before = await h.snapshot();
        const e = await errorOf(() => procedureAt(h.api, c.path)(c.input(ids)));
        expect(e.code).not.toBe('INTERNAL_SERVER_ERROR');
        expect({ code: e.code, reason: e.reason }).toEqual({
          code: c.code ?? 'BAD_REQUEST',
          reason: c.reason ?? 'VALIDATION',
        });
        expect(await h.snapshot()).toEqual(before);
      });
    });

    describe('over HTTP', () => {
      it.each(CASES.map((c) => [c.name, c] as const))('%s', async (_name, c) => {
        const before = await h.snapshot();
        const e = await httpErrorOf(h, c, c.input(ids));
        expect(e.status).toBeLessThan(500);
        expect({ code: e.code, reason: e.reason }).toEqual({
          code: c.code ?? 'BAD_REQUEST',
          reason: c.reason ?? 'VALIDATION',
        });
        expect(await h.snapshot()).toEqual(before);
      });

      it('a body that is not JSON is a 400, not a 500, and changes nothing', async () => {
        const before = await h.snapshot();
        const res = await fetchRequestHandler({
          endpoint: '/trpc',
          req: new Request('http://localhost/trpc/admin.ledger.grant', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: '{"workspaceId": "x", "amount": 1',
          }),
          router: appRouter,
          createContext: () => h.ctx,
        });
        expect(res.status).toBe(400);
        expect(await h.snapshot()).toEqual(before);
      });

      it('an amount written as 1e400 in the JSON body (Infinity once parsed) is a validation error', async () => {
        const before = await h.snapshot();
        const res = await fetchRequestHandler({
          endpoint: '/trpc',
          req: new Request('http://localhost/trpc/admin.ledger.grant', {
            method: 'POST',
            headers: { 'content-type': 'application/json' },
            body: `{"workspaceId":${JSON.stringify(ids.workspaceId)},"wallet":"image_credits","amount":1e400,"reason":"x","idempotencyKey":"k-1e400"}`,
          }),
          router: appRouter,
          createContext: () => h.ctx,
        });
        expect(res.status).toBe(400);
        const body = (await res.json()) as { error: { data: { reason: string } } };
        expect(body.error.data.reason).toBe('VALIDATION');
        expect(await h.snapshot()).toEqual(before);
      });
    });

    it('after all of it, the hold is still open and the balances are what they were', async () => {
      const { wallets } = await h.api.wallets.list({ workspaceId: h.workspaceId });
      expect(wallets.map((w) => [w.kind, w.balance, w.held])).toEqual([
        ['ai_tokens', findPlan('pro')!.aiTokensPerCycle + 10_000, 0],
        ['image_credits', 100, 0],
        // 50 trial + 500 purchased, 50 held (the trial paid for the 5 s hold).
        ['video_credits', 500, 50],
        ['audio_credits', 0, 0],
      ]);
      const jobs = await h.api.usage.jobs({ workspaceId: h.workspaceId });
      expect(jobs.items.map((j) => [j.id, j.status])).toEqual([[ids.holdId, 'reserved']]);
      expect(await h.store.listWorkspaceIds()).toEqual([h.workspaceId]);
    });
  });
}
