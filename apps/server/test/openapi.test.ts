import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import { Validator } from '@seriousme/openapi-schema-validator';
import { Ajv2020 } from 'ajv/dist/2020.js';
import { DIALECTS } from '@credits/store/testing';
import { makeTestApp, type TestApp } from './test-app.js';

const key = () => `k-${randomUUID()}`;
const video5s = { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' } as const;

interface OpenApiOperation {
  operationId: string;
  parameters?: { name: string; in: 'path' | 'query'; required?: boolean }[];
  requestBody?: { content: Record<string, unknown> };
  responses: Record<string, { content?: Record<string, unknown> }>;
}
interface OpenApiDocument {
  openapi: string;
  paths: Record<string, Record<string, OpenApiOperation>>;
  components: unknown;
}
interface ErrorBody {
  error: { message: string; data: { reason: string | null; httpStatus: number; code: string } };
}

const DOC_ID = 'https://credit-wallets.invalid/openapi.json';
const pointer = (...parts: string[]) =>
  parts.map((p) => p.replace(/~/g, '~0').replace(/\//g, '~1')).join('/');

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(
    `HTTP/JSON API and /openapi.json on ${dialect.name}`,
    () => {
      let t: TestApp;
      let doc: OpenApiDocument;
      let workspaceId: string;
      let ajv: Ajv2020;
      const auth = () => ({ authorization: `Bearer ${t.serviceKey}` });

      async function trpc(path: string, input: unknown) {
        const res = await t.app.request(`/trpc/${path}`, {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...auth() },
          body: JSON.stringify(input),
        });
        expect(res.status).toBe(200);
        return ((await res.json()) as { result: { data: unknown } }).result.data;
      }

      /** Send a request as the document describes it; check the answer against the document. */
      async function send(
        method: string,
        template: string,
        input: {
          path?: Record<string, string>;
          query?: Record<string, string | string[]>;
          body?: unknown;
        },
        headers: Record<string, string> = auth(),
      ): Promise<{ status: number; body: unknown }> {
        const op = doc.paths[template]?.[method];
        if (!op) throw new Error(`${method} ${template} is not in the document`);
        let url = template.replace(/\{(\w+)\}/g, (_, name: string) =>
          encodeURIComponent(input.path?.[name] ?? ''),
        );
        const qs = new URLSearchParams();
        for (const [k, v] of Object.entries(input.query ?? {}))
          for (const one of [v].flat()) qs.append(k, one);
        if (qs.size > 0) url += `?${qs}`;
        const res = await t.app.request(url, {
          method: method.toUpperCase(),
          headers: {
            ...(input.body !== undefined ? { 'content-type': 'application/json' } : {}),
            ...headers,
          },
          body: input.body === undefined ? undefined : JSON.stringify(input.body),
        });
        const body = (await res.json()) as unknown;
        const described = op.responses[String(res.status)];
        expect(
          described,
          `${op.operationId} answered ${res.status}, which the document does not describe`,
        ).toBeDefined();
        const validate = ajv.compile({
          $ref: `${DOC_ID}#/${pointer('paths', template, method, 'responses', String(res.status), 'content', 'application/json', 'schema')}`,
        });
        expect(
          validate(body),
          `${op.operationId} ${res.status}: ${ajv.errorsText(validate.errors)} (${JSON.stringify(body)}): describe the procedure's answer in apps/server/src/http-api/operations.ts`,
        ).toBe(true);
        return { status: res.status, body };
      }

      beforeAll(async () => {
        t = await makeTestApp({ dialect });
        const res = await t.app.request('/openapi.json');
        expect(res.status).toBe(200);
        doc = (await res.json()) as OpenApiDocument;
        ajv = new Ajv2020({ strict: false, validateSchema: false, allErrors: true });
        ajv.addSchema({ ...(doc as object), $id: DOC_ID });
        const created = (await trpc('admin.workspaces.create', {
          name: 'OpenAPI test',
          plan: 'pro',
          idempotencyKey: key(),
        })) as { workspace: { id: string } };
        workspaceId = created.workspace.id;
        await trpc('admin.ledger.grant', {
          workspaceId,
          wallet: 'image_credits',
          amount: 100,
          reason: 'Test',
          idempotencyKey: key(),
        });
      });
      afterAll(async () => {
        expect((await t.store.verify()).violations).toEqual([]);
        await t.cleanup();
      });

      it('/openapi.json is a valid OpenAPI 3.1 document, generated from the router', async () => {
        const validator = new Validator();
        const result = await validator.validate(
          structuredClone(doc) as unknown as Record<string, unknown>,
        );
        expect(result.errors ?? []).toEqual([]);
        expect(result.valid).toBe(true);
        expect(validator.version).toBe('3.1');
        const ids = Object.values(doc.paths).flatMap((p) =>
          Object.values(p).map((o) => o.operationId),
        );
        expect(ids.sort()).toEqual(
          [
            'capture',
            'charge',
            'getWallet',
            'history',
            'jobs',
            'listWallets',
            'quote',
            'refund',
            'release',
            'reserve',
          ].sort(),
        );
        // The reserve body is the procedure's own schema less the path: strict, with the job union.
        const reserve = doc.paths['/api/v1/workspaces/{workspaceId}/holds']!.post!;
        const body = JSON.stringify(reserve.requestBody);
        expect(body).toContain('idempotencyKey');
        expect(body).toContain('"additionalProperties":false');
        expect(body).not.toContain('"workspaceId"');
      });

      it('calls every operation the document describes, and each answer matches it', async () => {
        let holdId = '';
        const samples: Record<
          string,
          () => Promise<{
            path?: Record<string, string>;
            query?: Record<string, string | string[]>;
            body?: unknown;
          }>
        > = {
          listWallets: async () => ({}),
          getWallet: async () => ({ path: { wallet: 'image_credits' } }),
          quote: async () => ({ body: { job: { kind: 'image', type: 'hero', count: 2 } } }),
          reserve: async () => ({
            body: { job: { kind: 'image', type: 'hero', count: 2 }, idempotencyKey: key() },
          }),
          capture: async () => ({
            path: { holdId },
            body: { actual: { kind: 'image', type: 'hero', count: 1 }, idempotencyKey: key() },
          }),
          refund: async () => ({
            path: { jobId: holdId },
            body: { credits: 1, reason: 'The render came out blank', idempotencyKey: key() },
          }),
          release: async () => {
            const hold = (await trpc('usage.reserve', {
              workspaceId,
              job: { kind: 'image', type: 'icon', count: 1 },
              idempotencyKey: key(),
            })) as { holdId: string };
            return { path: { holdId: hold.holdId }, body: { idempotencyKey: key() } };
          },
          charge: async () => ({
            body: { job: { kind: 'ai', tokens: 1200 }, idempotencyKey: key() },
          }),
          history: async () => ({
            query: { wallet: 'image_credits', types: ['hold', 'spend'], limit: '5' },
          }),
          jobs: async () => ({ query: { wallet: 'image_credits', limit: '10' } }),
        };
        const order = [
          'listWallets',
          'getWallet',
          'quote',
          'reserve',
          'capture',
          'refund',
          'release',
          'charge',
          'history',
          'jobs',
        ];
        const all = Object.entries(doc.paths).flatMap(([path, methods]) =>
          Object.entries(methods).map(([method, op]) => ({ path, method, op })),
        );
        all.sort((a, b) => order.indexOf(a.op.operationId) - order.indexOf(b.op.operationId));
        const answers: Record<string, unknown> = {};
        for (const { path, method, op } of all) {
          const sample = samples[op.operationId];
          expect(sample, `no sample request for ${op.operationId}`).toBeDefined();
          const input = await sample!();
          const res = await send(method, path, { ...input, path: { workspaceId, ...input.path } });
          expect(res.status, `${op.operationId}: ${JSON.stringify(res.body)}`).toBe(200);
          answers[op.operationId] = res.body;
          if (op.operationId === 'reserve') holdId = (res.body as { holdId: string }).holdId;
        }
        expect(answers.quote).toMatchObject({ wallet: 'image_credits', sufficient: true });
        expect(answers.capture).toMatchObject({ holdId, status: 'completed' });
        expect(answers.refund).toMatchObject({ jobId: holdId, refunded: 1, totalRefunded: 1 });
        expect(answers.release).toMatchObject({ status: 'failed', captured: 0 });
        expect((answers.history as { items: { type: string }[] }).items.map((e) => e.type)).toEqual(
          expect.arrayContaining(['hold', 'spend']),
        );
        expect((answers.history as { items: unknown[] }).items.length).toBeLessThanOrEqual(5);
      });

      it('same idempotency and error reasons as /trpc, described by the document', async () => {
        const holds = '/api/v1/workspaces/{workspaceId}/holds';
        const path = { workspaceId };
        const body = { job: { kind: 'image', type: 'hero', count: 1 }, idempotencyKey: key() };
        const first = await send('post', holds, { path, body });
        const again = await send('post', holds, { path, body });
        expect(again.body).toEqual(first.body);
        const conflict = await send('post', holds, {
          path,
          body: { ...body, job: { kind: 'image', type: 'hero', count: 2 } },
        });
        expect(conflict.status).toBe(409);
        expect((conflict.body as ErrorBody).error.data.reason).toBe('IDEMPOTENCY_CONFLICT');

        const short = await send('post', holds, {
          path,
          body: { job: { kind: 'image', type: 'hero', count: 100 }, idempotencyKey: key() },
        });
        expect(short.status).toBe(412);
        expect((short.body as ErrorBody).error.data).toMatchObject({
          reason: 'INSUFFICIENT_CREDITS',
          details: { action: 'buy_image_credits' },
        });

        const holdId = (first.body as { holdId: string }).holdId;
        const release = '/api/v1/workspaces/{workspaceId}/holds/{holdId}/release';
        expect(
          (
            await send('post', release, {
              path: { workspaceId, holdId },
              body: { idempotencyKey: key() },
            })
          ).status,
        ).toBe(200);
        const settled = await send('post', release, {
          path: { workspaceId, holdId },
          body: { idempotencyKey: key() },
        });
        expect(settled.status).toBe(409);
        expect((settled.body as ErrorBody).error.data.reason).toBe('HOLD_SETTLED');

        // A refund never exceeds what the job cost; an unsettled hold is not refundable.
        const refundPath = '/api/v1/workspaces/{workspaceId}/jobs/{jobId}/refund';
        const other = await send('post', holds, {
          path,
          body: { job: { kind: 'image', type: 'icon', count: 1 }, idempotencyKey: key() },
        });
        const otherId = (other.body as { holdId: string }).holdId;
        const notYet = await send('post', refundPath, {
          path: { workspaceId, jobId: otherId },
          body: { reason: 'Too early', idempotencyKey: key() },
        });
        expect((notYet.body as ErrorBody).error.data.reason).toBe('JOB_NOT_REFUNDABLE');
        const captured = await send(
          'post',
          '/api/v1/workspaces/{workspaceId}/holds/{holdId}/capture',
          { path: { workspaceId, holdId: otherId }, body: { idempotencyKey: key() } },
        );
        const cost = (captured.body as { captured: number }).captured;
        const tooMuch = await send('post', refundPath, {
          path: { workspaceId, jobId: otherId },
          body: { credits: cost + 1, reason: 'Too much', idempotencyKey: key() },
        });
        expect((tooMuch.body as ErrorBody).error.data.reason).toBe('REFUND_EXCEEDS_COST');
        const noJob = await send('post', refundPath, {
          path: { workspaceId, jobId: 'job_nope' },
          body: { reason: 'Nothing', idempotencyKey: key() },
        });
        expect((noJob.body as ErrorBody).error.data.reason).toBe('NOT_FOUND');

        const unknownField = await send('post', holds, {
          path,
          body: { ...body, idempotencyKey: key(), extra: 1 },
        });
        expect(unknownField.status).toBe(400);
        expect((unknownField.body as ErrorBody).error.data.reason).toBe('VALIDATION');
        const pathInBody = await send('post', holds, {
          path,
          body: { ...body, workspaceId, idempotencyKey: key() },
        });
        expect((pathInBody.body as ErrorBody).error.data.reason).toBe('VALIDATION');
        const badQuery = await send('get', '/api/v1/workspaces/{workspaceId}/history', {
          path,
          query: { limit: 'many' },
        });
        expect(badQuery.status).toBe(400);
        expect((badQuery.body as ErrorBody).error.data.reason).toBe('VALIDATION');

        const anonymous = await send(
          'get',
          '/api/v1/workspaces/{workspaceId}/wallets',
          { path },
          {},
        );
        expect(anonymous.status).toBe(401);
        expect((anonymous.body as ErrorBody).error.data.reason).toBe('UNAUTHORIZED');
        const elsewhere = await send('get', '/api/v1/workspaces/{workspaceId}/wallets', {
          path: { workspaceId: 'no-such-workspace' },
        });
        expect([403, 404]).toContain(elsewhere.status);

        // A form post is refused before any procedure runs, as on /trpc.
        const form = await t.app.request(`/api/v1/workspaces/${workspaceId}/holds`, {
          method: 'POST',
          headers: { ...auth(), 'content-type': 'application/x-www-form-urlencoded' },
          body: 'idempotencyKey=x',
        });
        expect(form.status).toBe(415);
      });

      it('a session cookie works, and its writes need the CSRF header', async () => {
        const email = `owner-${randomUUID()}@example.test`;
        const signUp = await t.app.request('/trpc/auth.signUp', {
          method: 'POST',
          headers: { 'content-type': 'application/json' },
          body: JSON.stringify({
            email,
            name: 'Cookie Owner',
            password: 'violet-harbour-engine-47-quietly',
          }),
        });
        expect(signUp.status).toBe(200);
        const cookie = signUp.headers.get('set-cookie')!.split(';')[0]!;
        const signedUp = (await signUp.json()) as {
          result: { data: { workspace: { id: string } } };
        };
        const ws = signedUp.result.data.workspace.id;
        const list = await t.app.request(`/api/v1/workspaces/${ws}/wallets`, {
          headers: { cookie },
        });
        expect(list.status).toBe(200);
        const quote = (csrf: boolean) =>
          t.app.request(`/api/v1/workspaces/${ws}/quotes`, {
            method: 'POST',
            headers: {
              cookie,
              'content-type': 'application/json',
              ...(csrf ? { 'x-credits-csrf': '1' } : {}),
            },
            body: JSON.stringify({ job: video5s }),
          });
        expect((await quote(false)).status).toBe(403);
        expect((await quote(true)).status).toBe(200);
      });

      it('the reference page and its assets are served from node_modules', async () => {
        const page = await t.app.request('/api/docs');
        expect(page.status).toBe(200);
        const html = await page.text();
        for (const src of [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!)) {
          expect(src.startsWith('/'), `${src} must be served here, no CDN`).toBe(true);
          const asset = await t.app.request(src);
          expect(asset.status, src).toBe(200);
          expect((await asset.arrayBuffer()).byteLength).toBeGreaterThan(20);
        }
      });
    },
  );
}
