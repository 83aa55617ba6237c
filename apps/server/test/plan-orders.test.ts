import { afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { appRouter } from '@credits/api';
import { cycleAt } from '@credits/domain';
import { DIALECTS, type DialectFixture } from '@credits/store/testing';
import {
  SANDBOX_SIGNATURE_HEADER,
  STRIPE_SIGNATURE_HEADER,
  createSandboxProvider,
  createStripeProvider,
  type PaymentProvider,
  type SandboxProvider,
} from '../src/payments/index.js';
import { makeTestApp, TEST_METRICS_TOKEN, type TestApp } from './test-app.js';

/**
 * Plan orders (owners upgrade through checkout) over HTTP, on every dialect:
 *
 * - several DIFFERENT paid events for one plan order at once (a provider's retry under a new
 *   event id, another delivery of the outcome, and the sandbox page's own confirmation) change
 *   the plan and raise the AI Token allowance exactly once — also when the order is paid in a
 *   cycle whose allowance nobody had granted yet, so the webhook's own cycle catch-up races too;
 * - Stripe, offline (the SDK over a fake `fetch`, events signed with its test-header helper):
 *   the Checkout Session carries the plan's price, currency, name and metadata; a signed event
 *   with another amount or currency is refused and audited; the order's own payment changes
 *   the plan, once, however many events report it.
 *
 * Every test ends with `verify` clean.
 */

const PUBLIC_URL = 'http://credits.test';
const SANDBOX_SECRET = 'sandbox-test-secret-plan-orders';
const STRIPE_WEBHOOK_SECRET = 'whsec_test_plan_orders_0123456789';
const DAY = 24 * 60 * 60_000;
const PASSWORD = 'correct horse battery staple';
const FREE = 20_000;
const PRO = 1_000_000;
const key = () => `k-${randomUUID()}`;

interface TrpcBody<T> {
  result?: { data: T };
  error?: { message: string; data: { code: string; reason: string | null } };
}

/** A test app whose provider's own webhook (the sandbox page's) goes back into the app. */
async function paymentsApp(dialect: DialectFixture, provider: PaymentProvider): Promise<TestApp> {
  const ref: { app?: TestApp } = {};
  const t = await makeTestApp({
    dialect,
    payments: {
      provider,
      publicUrl: () => PUBLIC_URL,
      deliver: async (url, init) => ref.app!.app.fetch(new Request(url, init)),
    },
  });
  ref.app = t;
  return t;
}

/** Procedures over HTTP as @trpc/client calls them (GET for queries, POST for mutations). */
async function call<T>(
  t: TestApp,
  path: string,
  input: unknown,
  auth: { cookie?: string; bearer?: string },
): Promise<{ status: number; body: TrpcBody<T>; headers: Headers }> {
  const type = (appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>)[
    path
  ]?._def.type;
  const headers: Record<string, string> = {};
  if (auth.cookie) headers.cookie = auth.cookie;
  if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
  const res =
    type === 'query'
      ? await t.app.request(`/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, {
          headers,
        })
      : await t.app.request(`/trpc/${path}`, {
          method: 'POST',
          headers: {
            ...headers,
            'content-type': 'application/json',
            ...(auth.cookie ? { 'x-credits-csrf': '1' } : {}),
          },
          body: JSON.stringify(input),
        });
  return { status: res.status, body: (await res.json()) as TrpcBody<T>, headers: res.headers };
}

async function data<T>(
  t: TestApp,
  path: string,
  input: unknown,
  auth: { cookie?: string; bearer?: string },
): Promise<T> {
  const res = await call<T>(t, path, input, auth);
  if (!res.body.result) throw new Error(`${path}: ${res.status} ${JSON.stringify(res.body)}`);
  return res.body.result.data;
}

/** A new owner signed in (cookie) and their new workspace (Free plan). */
async function signUpOwner(t: TestApp): Promise<{ cookie: string; workspaceId: string }> {
  const res = await call<{ workspace: { id: string } }>(
    t,
    'auth.signUp',
    {
      email: `owner-${randomUUID()}@example.test`,
      password: PASSWORD,
      name: 'Olive Owner',
      workspaceName: 'Plan Order Studio',
    },
    {},
  );
  expect(res.status).toBe(200);
  const cookie = /__Host-cw_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0];
  expect(cookie).toBeDefined();
  return { cookie: cookie!, workspaceId: res.body.result!.data.workspace.id };
}

type AiWallet = {
  balance: number;
  cycle: { planLimit: number; usedThisCycle: number; resetsAt: number };
};

/** What a plan order changes, read through the store and the API (service key). */
async function planState(t: TestApp, workspaceId: string) {
  const auth = { bearer: t.serviceKey };
  const [ai, plans, audits, grants, lots] = await Promise.all([
    data<AiWallet>(t, 'wallets.get', { workspaceId, wallet: 'ai_tokens' }, auth),
    data<{ currentPlan: string; pendingDowngrade: unknown }>(
      t,
      'plans.list',
      { workspaceId },
      auth,
    ),
    t.store.accounts.auditLog({ action: 'workspace.plan.set', workspaceId, limit: 50 }),
    t.store.history({ workspaceId, types: ['grant'], wallet: 'ai_tokens', limit: 50 }),
    t.store.lots({ workspaceId }),
  ]);
  return {
    ai,
    plan: plans.currentPlan,
    pendingDowngrade: plans.pendingDowngrade,
    planSets: audits.items,
    upgradeGrants: grants.items.filter((g) => g.description.startsWith('Upgrade to')),
    // This cycle's (earlier ones expire when read, which a read here may do first).
    allowanceLots: lots.filter(
      (l) =>
        l.wallet === 'ai_tokens' &&
        l.source === 'plan_allowance' &&
        (l.expiresAt === null || l.expiresAt > t.clock.now()),
    ),
  };
}

async function paidWebhooks(t: TestApp, provider: string): Promise<number> {
  const text = await (
    await t.app.request('/metrics', { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } })
  ).text();
  const m = new RegExp(
    `credits_payment_webhooks_total\\{provider="${provider}",result="paid"\\} (\\d+)`,
  ).exec(text);
  return m ? Number(m[1]) : 0;
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`plan orders on ${dialect.name}`, () => {
    let t: TestApp | undefined;

    afterEach(async () => {
      if (!t) return;
      expect((await t.store.verify()).violations).toEqual([]);
      await t.cleanup();
      t = undefined;
    });

    describe('different paid events for one plan order at once (sandbox)', () => {
      /** Hidden fields and actions of the sandbox checkout page's forms. */
      function parseForms(html: string) {
        return [...html.matchAll(/<form method="post" action="([^"]+)">(.*?)<\/form>/gs)].map(
          (m) => ({
            action: m[1]!.replaceAll('&amp;', '&'),
            fields: Object.fromEntries(
              [...m[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map(
                (f) => [f[1]!, f[2]!.replaceAll('&amp;', '&')],
              ),
            ),
          }),
        );
      }

      for (const when of ['mid-cycle', 'in a cycle nobody has granted yet'] as const) {
        it(`${when}: 6 retried webhooks with new event ids and the sandbox page's Pay, all at once, change the plan and grant the new allowance once`, async () => {
          const sandbox: SandboxProvider = createSandboxProvider({ secret: SANDBOX_SECRET });
          t = await paymentsApp(dialect, sandbox);
          const app = t;
          const owner = await signUpOwner(app);
          const auth = { bearer: app.serviceKey };
          // 5,000 AI Tokens used on Free this cycle.
          await data(
            app,
            'usage.charge',
            {
              workspaceId: owner.workspaceId,
              job: { kind: 'ai', tokens: 5_000 },
              idempotencyKey: key(),
            },
            auth,
          );
          if (when === 'in a cycle nobody has granted yet') app.clock.advance(32 * DAY);
          const used = when === 'mid-cycle' ? 5_000 : 0;

          const made = await data<{ orderId: string; checkoutUrl: string }>(
            app,
            'plans.checkout',
            { workspaceId: owner.workspaceId, plan: 'pro', idempotencyKey: key() },
            when === 'mid-cycle' ? { cookie: owner.cookie } : auth,
          );
          const order = (await app.store.billing.order({ orderId: made.orderId }))!;
          expect(order).toMatchObject({
            kind: 'plan',
            planId: 'pro',
            status: 'pending',
            priceCents: 4_900,
            currency: 'usd',
          });
          const session = order.providerSession!;
          const pay = parseForms(await (await app.app.request(made.checkoutUrl)).text())[0]!;
          const paidEvent = async (): Promise<Response> => {
            const rawBody = JSON.stringify({
              id: `evt_${randomUUID().replaceAll('-', '')}`,
              type: 'checkout.paid',
              data: { session, amount: 4_900, currency: 'usd', reference: made.orderId },
            });
            return app.app.request('/webhooks/sandbox', {
              method: 'POST',
              headers: {
                'content-type': 'application/json',
                [SANDBOX_SIGNATURE_HEADER]: sandbox.sign({
                  rawBody,
                  timestamp: Math.floor(app.clock.now() / 1000),
                }),
              },
              body: rawBody,
            });
          };

          const press = app.app.request(new URL(pay.action, made.checkoutUrl).toString(), {
            method: 'POST',
            headers: { 'content-type': 'application/x-www-form-urlencoded' },
            body: new URLSearchParams(pay.fields).toString(),
          });
          const deliveries = Array.from({ length: 6 }, () =>
            paidEvent().then(async (r: Response) => ({
              status: r.status,
              ...((await r.json()) as { result: string; orderId: string | null }),
            })),
          );
          const [pressed, answers] = await Promise.all([press, Promise.all(deliveries)]);
          // Every delivery is answered 200; whichever came first paid, the others found it settled.
          expect(answers.map((a) => a.status)).toEqual(Array(6).fill(200));
          for (const a of answers) {
            expect(['paid', 'already_settled']).toContain(a.result);
            expect(a.orderId).toBe(made.orderId);
          }
          expect(answers.filter((a) => a.result === 'paid').length).toBeLessThanOrEqual(1);
          expect(pressed.status).toBe(303);
          expect(pressed.headers.get('location')).toBe(
            `${PUBLIC_URL}/plans?order=${made.orderId}&status=paid`,
          );
          // Counting the sandbox page's own delivery: one event paid, in all.
          expect(await paidWebhooks(app, 'sandbox')).toBe(1);

          const state = await planState(app, owner.workspaceId);
          expect(state.plan).toBe('pro');
          expect(state.ai).toMatchObject({
            balance: PRO - used,
            cycle: { planLimit: PRO, usedThisCycle: used },
          });
          expect(state.planSets).toHaveLength(1);
          expect(state.planSets[0]).toMatchObject({ actor: 'payment:sandbox' });
          expect(state.upgradeGrants).toHaveLength(1);
          expect(state.upgradeGrants[0]!.amount).toBe(PRO - FREE);
          // This cycle: Free's allowance once, and one top-up to Pro's limit.
          const ws = (await app.store.getWorkspace(owner.workspaceId))!;
          const { key: cycleKey } = cycleAt({
            anchorDay: ws.billingAnchorDay,
            now: app.clock.now(),
          });
          const thisCycle = state.allowanceLots.filter(
            (l) => l.cycleKey === cycleKey || l.cycleKey?.startsWith(`${cycleKey}+`),
          );
          expect(thisCycle.map((l) => l.granted).sort((a, b) => a - b)).toEqual([FREE, PRO - FREE]);
          expect((await app.store.billing.order({ orderId: made.orderId }))!.status).toBe('paid');

          // Later deliveries of yet other events change nothing.
          const late = await paidEvent();
          expect(await late.json()).toMatchObject({ result: 'already_settled' });
          expect(await planState(app, owner.workspaceId)).toEqual(state);
        });
      }
    });

    describe('stripe (offline)', () => {
      /** What the SDK sent to the Stripe API (a fake `fetch` answers; nothing leaves the process). */
      let requests: { url: string; headers: Headers; body: URLSearchParams }[] = [];

      async function stripeApp(): Promise<TestApp> {
        requests = [];
        let seq = 0;
        const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
          const req = new Request(input, init);
          requests.push({
            url: req.url,
            headers: req.headers,
            body: new URLSearchParams(await req.text()),
          });
          const id = `cs_test_plan_${++seq}`;
          return new Response(
            JSON.stringify({
              id,
              object: 'checkout.session',
              url: `https://checkout.stripe.com/c/pay/${id}`,
            }),
            {
              status: 200,
              headers: { 'content-type': 'application/json', 'request-id': `r${seq}` },
            },
          );
        }) as typeof fetch;
        const stripe = new Stripe('sk_test_offline', {
          httpClient: Stripe.createFetchHttpClient(fakeFetch),
          maxNetworkRetries: 0,
        });
        return paymentsApp(
          dialect,
          createStripeProvider({ webhookSecret: STRIPE_WEBHOOK_SECRET, stripe }),
        );
      }

      /** A signed Stripe event for a Checkout Session, delivered to the webhook. */
      async function deliver(
        app: TestApp,
        id: string,
        type: string,
        object: Record<string, unknown>,
      ): Promise<{ status: number; result: string; orderId: string | null }> {
        const payload = JSON.stringify({
          id,
          object: 'event',
          type,
          api_version: '2025-01-01',
          created: 1,
          data: { object: { object: 'checkout.session', ...object } },
        });
        const header = Stripe.webhooks.generateTestHeaderString({
          payload,
          secret: STRIPE_WEBHOOK_SECRET,
          timestamp: Math.floor(app.clock.now() / 1000),
        });
        const res = await app.app.request('/webhooks/stripe', {
          method: 'POST',
          headers: { 'content-type': 'application/json', [STRIPE_SIGNATURE_HEADER]: header },
          body: payload,
        });
        return {
          status: res.status,
          ...((await res.json()) as { result: string; orderId: string | null }),
        };
      }

      it('plans.checkout makes a Checkout Session at the plan price with the plan in its metadata; a wrong amount or currency is refused; the paid event changes the plan once, however many events report it', async () => {
        t = await stripeApp();
        const app = t;
        const owner = await signUpOwner(app);
        await data(
          app,
          'usage.charge',
          {
            workspaceId: owner.workspaceId,
            job: { kind: 'ai', tokens: 3_000 },
            idempotencyKey: key(),
          },
          { bearer: app.serviceKey },
        );
        const input = { workspaceId: owner.workspaceId, plan: 'pro', idempotencyKey: key() };
        const made = await data<{
          orderId: string;
          checkoutUrl: string;
          status: string;
          plan: string;
          priceCents: number;
          currency: string;
        }>(app, 'plans.checkout', input, { cookie: owner.cookie });
        const { orderId } = made;
        expect(made).toEqual({
          orderId,
          status: 'pending',
          checkoutUrl: 'https://checkout.stripe.com/c/pay/cs_test_plan_1',
          plan: 'pro',
          priceCents: 4_900,
          currency: 'usd',
        });
        // The same key and body: the same order and session, no second Stripe call.
        expect(await data(app, 'plans.checkout', input, { cookie: owner.cookie })).toEqual(made);
        expect(requests).toHaveLength(1);
        const r = requests[0]!;
        expect(r.url).toBe('https://api.stripe.com/v1/checkout/sessions');
        expect(r.headers.get('idempotency-key')).toBe(`credits-checkout-${orderId}`);
        const sent = Object.fromEntries(r.body);
        expect(sent).toMatchObject({
          mode: 'payment',
          'line_items[0][price_data][currency]': 'usd',
          'line_items[0][price_data][unit_amount]': '4900',
          'line_items[0][price_data][product_data][name]':
            'Pro plan (1,000,000 AI Tokens per cycle)',
          'line_items[0][quantity]': '1',
          success_url: `${PUBLIC_URL}/plans?order=${orderId}&status=paid`,
          cancel_url: `${PUBLIC_URL}/plans?order=${orderId}&status=cancelled`,
          client_reference_id: orderId,
          'metadata[orderId]': orderId,
          'metadata[workspaceId]': owner.workspaceId,
          'metadata[planId]': 'pro',
        });
        expect(sent).not.toHaveProperty('metadata[packId]');
        const order = (await app.store.billing.order({ orderId }))!;
        expect(order).toMatchObject({
          kind: 'plan',
          planId: 'pro',
          packId: null,
          providerSession: 'cs_test_plan_1',
          status: 'pending',
        });

        const before = await planState(app, owner.workspaceId);
        expect(before.plan).toBe('free');
        const session = {
          id: 'cs_test_plan_1',
          payment_status: 'paid',
          amount_total: 4_900,
          currency: 'usd',
          client_reference_id: orderId,
          metadata: { orderId, workspaceId: owner.workspaceId, planId: 'pro' },
        };
        // Signed by Stripe, but not this order's payment: Starter's price, or euros, or yen.
        for (const [id, wrong, fields] of [
          ['evt_plan_amount', { amount_total: 1_900 }, ['amount']],
          ['evt_plan_currency', { currency: 'eur' }, ['currency']],
          ['evt_plan_both', { amount_total: 49, currency: 'jpy' }, ['amount', 'currency']],
        ] as const) {
          expect(
            await deliver(app, id, 'checkout.session.completed', { ...session, ...wrong }),
          ).toEqual({ status: 200, received: true, result: 'mismatch', orderId });
          const audit = await app.store.accounts.auditLog({
            action: 'payment.mismatch',
            limit: 1,
          });
          expect(audit.items[0]).toMatchObject({
            actor: 'payment:stripe',
            target: `order:${orderId}`,
            workspaceId: owner.workspaceId,
          });
          expect(audit.items[0]!.reason).toContain(
            `does not match the order: ${fields.join(', ')}`,
          );
        }
        expect(await planState(app, owner.workspaceId)).toEqual(before);
        expect((await app.store.billing.order({ orderId }))!.status).toBe('pending');
        expect(
          (await app.store.accounts.auditLog({ action: 'payment.mismatch', limit: 10 })).items,
        ).toHaveLength(3);

        // The real payment: the completion and a retry under another id, and the async
        // success event, all at once (upper-case currency, as some APIs write it).
        const answers = await Promise.all([
          deliver(app, 'evt_plan_paid', 'checkout.session.completed', {
            ...session,
            currency: 'USD',
          }),
          deliver(app, 'evt_plan_paid_retry', 'checkout.session.completed', session),
          deliver(app, 'evt_plan_async', 'checkout.session.async_payment_succeeded', session),
          deliver(app, 'evt_plan_paid', 'checkout.session.completed', {
            ...session,
            currency: 'USD',
          }),
        ]);
        expect(answers.map((a) => a.status)).toEqual([200, 200, 200, 200]);
        expect(answers.filter((a) => a.result === 'paid')).toHaveLength(1);
        expect(
          answers.filter((a) => a.result === 'already_settled' || a.result === 'duplicate'),
        ).toHaveLength(3);

        const after = await planState(app, owner.workspaceId);
        expect(after.plan).toBe('pro');
        expect(after.ai).toMatchObject({
          balance: PRO - 3_000,
          cycle: { planLimit: PRO, usedThisCycle: 3_000 },
        });
        expect(after.planSets).toHaveLength(1);
        expect(after.planSets[0]).toMatchObject({ actor: 'payment:stripe' });
        expect(after.upgradeGrants).toHaveLength(1);
        expect(after.upgradeGrants[0]!.amount).toBe(PRO - FREE);
        expect((await app.store.billing.order({ orderId }))!.status).toBe('paid');
        const receipt = await data<{ kind: string; planId: string; pack: string }>(
          app,
          'receipts.get',
          { workspaceId: owner.workspaceId, orderId },
          { cookie: owner.cookie },
        );
        expect(receipt).toMatchObject({
          kind: 'plan',
          planId: 'pro',
          pack: 'Pro plan (1,000,000 AI Tokens per cycle)',
        });

        // Days later Stripe retries; a mismatched event for the settled order changes nothing.
        app.clock.advance(2 * DAY);
        expect(await deliver(app, 'evt_plan_paid', 'checkout.session.completed', session)).toEqual({
          status: 200,
          received: true,
          result: 'duplicate',
          orderId: null,
        });
        expect(
          (await deliver(app, 'evt_plan_late', 'checkout.session.completed', session)).result,
        ).toBe('already_settled');
        expect(await planState(app, owner.workspaceId)).toEqual(after);
      });

      it('a declined or expired plan checkout leaves the plan as it was', async () => {
        t = await stripeApp();
        const app = t;
        const owner = await signUpOwner(app);
        const before = await planState(app, owner.workspaceId);
        const declined = await data<{ orderId: string }>(
          app,
          'plans.checkout',
          { workspaceId: owner.workspaceId, plan: 'pro', idempotencyKey: key() },
          { cookie: owner.cookie },
        );
        const expired = await data<{ orderId: string }>(
          app,
          'plans.checkout',
          { workspaceId: owner.workspaceId, plan: 'business', idempotencyKey: key() },
          { cookie: owner.cookie },
        );
        expect(
          await deliver(app, 'evt_plan_failed', 'checkout.session.async_payment_failed', {
            id: 'cs_test_plan_1',
          }),
        ).toMatchObject({ result: 'declined', orderId: declined.orderId });
        expect(
          await deliver(app, 'evt_plan_expired', 'checkout.session.expired', {
            id: 'cs_test_plan_2',
          }),
        ).toMatchObject({ result: 'expired', orderId: expired.orderId });
        // A payment reported after the decline is refused as settled.
        expect(
          await deliver(app, 'evt_plan_after', 'checkout.session.completed', {
            id: 'cs_test_plan_1',
            payment_status: 'paid',
            amount_total: 4_900,
            currency: 'usd',
            client_reference_id: declined.orderId,
            metadata: { orderId: declined.orderId },
          }),
        ).toMatchObject({ result: 'already_settled' });
        expect(await planState(app, owner.workspaceId)).toEqual(before);
      });
    });
  });
}
