import { afterEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import pino from 'pino';
import Stripe from 'stripe';
import { appRouter } from '@credits/api';
import type { WalletKind } from '@credits/domain';
import { DIALECTS, type DialectFixture } from '@credits/store/testing';
import {
  STRIPE_SIGNATURE_HEADER,
  autoTopUpRunner,
  autoTopUpTrigger,
  createSandboxProvider,
  createStripeProvider,
  reconcileAutoTopUps,
  type AutoTopUpRunner,
  type PaymentProvider,
} from '../src/payments/index.js';
import type { Store } from '@credits/store';
import { makeTestApp, type TestApp } from './test-app.js';
import { sweepOnce } from '../src/sweeper.js';

const PUBLIC_URL = 'http://credits.test';
const STRIPE_WEBHOOK_SECRET = 'whsec_test_0123456789abcdef';
const key = () => `k-${randomUUID()}`;

/** The app with a provider whose own webhooks come back into it (no socket); what it posted is kept. */
async function appWith(
  dialect: DialectFixture,
  provider: PaymentProvider,
  /** While `on`, the spend trigger's runs are lost (as when the process stops before them). */
  lostTriggers: { on: boolean } = { on: false },
) {
  const ref: { t?: TestApp } = {};
  const posted: { url: string; body: string; headers: Headers }[] = [];
  const deliver = async (url: string, init: RequestInit) => {
    const req = new Request(url, init);
    posted.push({ url, body: await req.clone().text(), headers: req.headers });
    return ref.t!.app.fetch(req);
  };
  const made: { runner?: AutoTopUpRunner } = {};
  const trigger = autoTopUpTrigger({
    store: {
      autoTopUp: { settings: (i: { workspaceId: string }) => ref.t!.store.autoTopUp.settings(i) },
    } as unknown as Store,
    runner: {
      run: (i) =>
        lostTriggers.on
          ? Promise.resolve({ started: false as const, skipped: 'unsupported' as const })
          : made.runner!.run(i),
    },
    logger: pino({ level: 'silent' }),
  });
  const t = await makeTestApp({
    dialect,
    payments: { provider, publicUrl: () => PUBLIC_URL, deliver, autoTopUp: trigger },
  });
  ref.t = t;
  const runner = autoTopUpRunner({
    store: t.store,
    provider,
    publicUrl: () => PUBLIC_URL,
    deliver,
    clock: t.clock.now,
    logger: pino({ level: 'silent' }),
  });
  made.runner = runner;
  /** A procedure over HTTP with the service key (an admin: passes the owner checks). */
  const call = async <T = unknown>(path: string, input: unknown): Promise<T> => {
    const type = (
      appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>
    )[path]?._def.type;
    const headers = { authorization: `Bearer ${t.serviceKey}`, 'content-type': 'application/json' };
    const res =
      type === 'query'
        ? await t.app.request(`/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`, {
            headers,
          })
        : await t.app.request(`/trpc/${path}`, {
            method: 'POST',
            headers,
            body: JSON.stringify(input),
          });
    const body = (await res.json()) as { result?: { data: T }; error?: unknown };
    if (!body.result) throw new Error(`${path}: ${JSON.stringify(body.error)}`);
    return body.result.data;
  };
  const workspace = async () =>
    (
      await call<{ workspace: { id: string } }>('admin.workspaces.create', {
        name: 'Auto top-up test',
        plan: 'free',
        idempotencyKey: key(),
      })
    ).workspace.id;
  const enable = async (workspaceId: string, monthlyCapCents: number) => {
    const settings = {
      workspaceId,
      wallet: 'video_credits',
      packId: 'video-200',
      threshold: 50,
      monthlyCapCents,
    };
    const { terms } = await call<{ terms: string }>('autoTopUp.terms', settings);
    await call('autoTopUp.enable', { ...settings, acceptedTerms: terms });
  };
  const balance = async (workspaceId: string, wallet: WalletKind = 'video_credits') =>
    (await t.store.wallets(workspaceId)).find((w) => w.kind === wallet)!.available;
  /** Set the wallet's available balance to exactly `target` (a grant or a negative adjustment). */
  const setBalance = async (workspaceId: string, target: number) => {
    const now = await balance(workspaceId);
    const base = {
      workspaceId,
      wallet: 'video_credits' as const,
      actor: 'test',
      now: t.clock.now(),
    };
    const ids = { idempotencyKey: key(), requestHash: 'h' };
    if (now < target)
      await t.store.grant({
        ...base,
        ...ids,
        amount: target - now,
        source: 'adjustment',
        description: 'Test: balance set',
      });
    else if (now > target)
      await t.store.billing.adjust({ ...base, ...ids, amount: target - now, reason: 'Test' });
  };
  /** A 1-second Standard video at 720p: 10 credits, charged through the API. */
  const charge = (workspaceId: string) =>
    call('usage.charge', {
      workspaceId,
      job: { kind: 'video', type: 'standard', durationSec: 1, resolution: '720p' },
      idempotencyKey: key(),
    });
  return { t, runner, trigger, call, workspace, enable, balance, setBalance, charge, posted };
}

/** Hidden fields and actions of a sandbox page's forms. */
function parseForms(html: string): { action: string; fields: Record<string, string> }[] {
  return [...html.matchAll(/<form method="post" action="([^"]+)">(.*?)<\/form>/gs)].map((m) => ({
    action: m[1]!.replaceAll('&amp;', '&'),
    fields: Object.fromEntries(
      [...m[2]!.matchAll(/<input type="hidden" name="([^"]+)" value="([^"]*)">/g)].map((f) => [
        f[1]!,
        f[2]!.replaceAll('&amp;', '&'),
      ]),
    ),
  }));
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`auto top-up payments on ${dialect.name}`, () => {
    let env: Awaited<ReturnType<typeof appWith>> | undefined;
    afterEach(async () => {
      if (!env) return;
      expect((await env.t.store.verify()).violations).toEqual([]);
      await env.t.cleanup();
      env = undefined;
    });

    /** The sandbox's setup page, driven like a browser: open it, press a card's button. */
    async function saveSandboxCard(workspaceId: string, card: '4242' | '0002') {
      const { url } = await env!.call<{ url: string }>('autoTopUp.setupPaymentMethod', {
        workspaceId,
        returnPath: '/billing',
      });
      const pageUrl = new URL(url);
      expect(pageUrl.origin).toBe(PUBLIC_URL);
      const page = await env!.t.app.request(pageUrl.pathname + pageUrl.search);
      expect(page.status).toBe(200);
      const forms = parseForms(await page.text());
      expect(forms.map((f) => f.fields.card)).toEqual(['4242', '0002']);
      const form = forms.find((f) => f.fields.card === card)!;
      return env!.t.app.request(new URL(form.action, pageUrl).pathname, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams(form.fields).toString(),
      });
    }

    it('sandbox: a card saved on its page, auto top-up on, a crossing buys once through the signed webhook; a replayed webhook grants nothing more', async () => {
      env = await appWith(dialect, createSandboxProvider({ secret: 'sandbox-secret-0123456789' }));
      const ws = await env.workspace();
      const saved = await saveSandboxCard(ws, '4242');
      expect(saved.status).toBe(303);
      expect(saved.headers.get('location')).toBe(`${PUBLIC_URL}/billing?card=saved`);
      const read = await env.call<{ paymentMethod: { label: string } | null }>('autoTopUp.get', {
        workspaceId: ws,
      });
      expect(read.paymentMethod?.label).toBe('Sandbox card ending 4242');
      await env.enable(ws, 5000);
      const before = await env.balance(ws);

      // The same crossing reported 200 times at once: one purchase.
      const runs = await Promise.all(
        Array.from({ length: 200 }, () =>
          env!.runner.run({ workspaceId: ws, wallet: 'video_credits', crossingKey: 'crossing-1' }),
        ),
      );
      const started = runs.filter((r) => r.started);
      expect(started).toHaveLength(1);
      expect(started[0]).toMatchObject({ outcome: 'submitted' });
      expect(await env.balance(ws)).toBe(before + 200);
      const order = await env.t.store.billing.order({
        orderId: (started[0] as { orderId: string }).orderId,
      });
      expect(order).toMatchObject({
        status: 'paid',
        createdBy: 'system:auto_top_up',
        priceCents: 1000,
      });
      const history = await env.t.store.history({
        workspaceId: ws,
        types: ['purchase'],
        limit: 10,
      });
      expect(history.items).toHaveLength(1);
      expect(history.items[0]).toMatchObject({ amount: 200, orderId: order!.id });

      // The provider delivers the paid event again (a retry): nothing more.
      const paidEvent = env.posted.find((p) => p.body.includes('"payment.succeeded"'))!;
      const replay = await env.t.app.request('/webhooks/sandbox', {
        method: 'POST',
        headers: paidEvent.headers,
        body: paidEvent.body,
      });
      expect(await replay.json()).toMatchObject({ received: true, result: 'duplicate' });
      expect(await env.balance(ws)).toBe(before + 200);
      const state = await env.call<{
        wallets: { wallet: string; cycle: { spentCents: number; inFlight: boolean } }[];
      }>('autoTopUp.get', { workspaceId: ws });
      expect(state.wallets.find((w) => w.wallet === 'video_credits')!.cycle).toMatchObject({
        spentCents: 1000,
        inFlight: false,
      });
    });

    it('sandbox: a crossing whose trigger was lost (the process stopped) is bought by the next sweep, exactly once', async () => {
      const lost = { on: true };
      env = await appWith(
        dialect,
        createSandboxProvider({ secret: 'sandbox-secret-0123456789' }),
        lost,
      );
      const ws = await env.workspace();
      expect((await saveSandboxCard(ws, '4242')).status).toBe(303);
      await env.enable(ws, 5000);
      await env.setBalance(ws, 55);
      await env.charge(ws); // 55 → 45 crosses 50; the trigger's run is lost
      await env.trigger.idle();
      expect(await env.balance(ws)).toBe(45);
      lost.on = false;
      const sweep = () => sweepOnce(env!.t.store, env!.t.clock.now(), { autoTopUp: env!.runner });

      // Two passes at once (two processes): one purchase.
      const passes = await Promise.all([sweep(), sweep()]);
      expect(passes.map((p) => p.failures)).toEqual([[], []]);
      expect(passes.reduce((n, p) => n + p.autoTopUpsStarted, 0)).toBe(1);
      expect(await env.balance(ws)).toBe(245);
      // Below the threshold again without a new crossing by a job (an adjustment): that
      // crossing was bought already, so nothing more.
      await env.setBalance(ws, 30);
      expect((await sweep()).autoTopUpsStarted).toBe(0);
      const purchases = await env.t.store.history({
        workspaceId: ws,
        types: ['purchase'],
        limit: 10,
      });
      expect(purchases.items).toHaveLength(1);
      // A crossing the trigger did buy is not bought again by the sweep.
      await env.setBalance(ws, 55);
      await env.charge(ws); // crosses; the trigger buys
      await env.trigger.idle();
      expect(await env.balance(ws)).toBe(245);
      await env.setBalance(ws, 30);
      expect((await sweep()).autoTopUpsStarted).toBe(0);
      expect(
        (await env.t.store.history({ workspaceId: ws, types: ['purchase'], limit: 10 })).items,
      ).toHaveLength(2);
    });

    it('spends: 200 concurrent charges crossing the threshold start exactly one purchase, credited by the webhook', async () => {
      env = await appWith(dialect, createSandboxProvider({ secret: 'sandbox-secret-0123456789' }));
      const ws = await env.workspace();
      await saveSandboxCard(ws, '4242');
      await env.enable(ws, 100_000);
      // 2,040 credits, 200 charges of 10 at once: the balance falls below 50 exactly once.
      await env.setBalance(ws, 2040);
      const started = performance.now();
      await Promise.all(Array.from({ length: 200 }, () => env!.charge(ws)));
      await env.trigger.idle();
      const ms = performance.now() - started;
      const attempts = await env.t.store.autoTopUp.attempts({ workspaceId: ws, limit: 10 });
      expect(attempts).toHaveLength(1);
      expect(attempts[0]).toMatchObject({ status: 'paid', priceCents: 1000 });
      expect(await env.balance(ws)).toBe(40 + 200);
      const purchases = await env.t.store.history({
        workspaceId: ws,
        types: ['purchase'],
        limit: 10,
      });
      expect(purchases.items).toHaveLength(1);
      console.log(
        `auto top-up trigger on ${dialect.name}: 200 concurrent charges → ${attempts.length} purchase in ${ms.toFixed(0)} ms`,
      );
      // Further spends above the threshold start nothing; the next crossing buys again.
      await env.setBalance(ws, 65); // 65 → 55 (above), then 55 → 45 (a new crossing)
      await env.charge(ws);
      await env.trigger.idle();
      expect(await env.t.store.autoTopUp.attempts({ workspaceId: ws, limit: 10 })).toHaveLength(1);
      await env.charge(ws);
      await env.trigger.idle();
      expect(await env.t.store.autoTopUp.attempts({ workspaceId: ws, limit: 10 })).toHaveLength(2);
    });

    it('spends: a month with the threshold crossed 50 times never spends above the cap; declines turn it off once', async () => {
      env = await appWith(dialect, createSandboxProvider({ secret: 'sandbox-secret-0123456789' }));
      const ws = await env.workspace();
      await saveSandboxCard(ws, '4242');
      await env.enable(ws, 3500);
      for (let i = 0; i < 50; i += 1) {
        env.t.clock.advance(12 * 3_600_000);
        await env.setBalance(ws, 55);
        await env.charge(ws); // 55 → 45: a crossing
        await env.trigger.idle();
      }
      const attempts = await env.t.store.autoTopUp.attempts({ workspaceId: ws, limit: 100 });
      const paid = attempts.filter((a) => a.status === 'paid');
      const spentCents = paid.reduce((s, a) => s + a.priceCents, 0);
      console.log(
        `auto top-up month via spends on ${dialect.name}: 50 crossings → ${paid.length} purchases, $${spentCents / 100} of a $35 cap`,
      );
      expect(spentCents).toBeLessThanOrEqual(3500);
      expect(paid).toHaveLength(3);
      expect(attempts).toHaveLength(3);

      // A declining card: three crossings decline, the fourth finds it off; one notification.
      const other = await env.workspace();
      await saveSandboxCard(other, '0002');
      await env.enable(other, 100_000);
      for (let i = 0; i < 4; i += 1) {
        await env.setBalance(other, 55);
        await env.charge(other);
        await env.trigger.idle();
      }
      const declined = await env.t.store.autoTopUp.attempts({ workspaceId: other, limit: 10 });
      expect(declined.map((a) => a.status)).toEqual(['declined', 'declined', 'declined']);
      const notes = await env.t.store.billing.notifications({ workspaceId: other, limit: 20 });
      expect(notes.filter((n) => n.kind === 'auto_top_up_off')).toHaveLength(1);
    });

    it('sandbox: only a setup link the server made can save a card', async () => {
      env = await appWith(dialect, createSandboxProvider({ secret: 'sandbox-secret-0123456789' }));
      const ws = await env.workspace();
      const { url } = await env.call<{ url: string }>('autoTopUp.setupPaymentMethod', {
        workspaceId: ws,
      });
      const u = new URL(url);
      const other = await env.workspace();
      const forged = new URLSearchParams(u.search);
      forged.set('workspace', other);
      expect((await env.t.app.request(`${u.pathname}?${forged.toString()}`)).status).toBe(403);
      const res = await env.t.app.request(`${u.pathname}/save`, {
        method: 'POST',
        headers: { 'content-type': 'application/x-www-form-urlencoded' },
        body: new URLSearchParams({ ...Object.fromEntries(forged), card: '4242' }).toString(),
      });
      expect(res.status).toBe(403);
      for (const w of [ws, other])
        expect(
          await env.t.store.autoTopUp.paymentMethod({ workspaceId: w, provider: 'sandbox' }),
        ).toBeNull();
    });

    it('sandbox: a month of 50 crossings never spends above the cap', async () => {
      env = await appWith(dialect, createSandboxProvider({ secret: 'sandbox-secret-0123456789' }));
      const ws = await env.workspace();
      await saveSandboxCard(ws, '4242');
      await env.enable(ws, 3500);
      const outcomes: string[] = [];
      for (let i = 0; i < 50; i += 1) {
        env.t.clock.advance(12 * 3_600_000); // 25 days of crossings, one every 12 hours
        const r = await env.runner.run({
          workspaceId: ws,
          wallet: 'video_credits',
          crossingKey: `m-${i}`,
        });
        outcomes.push(r.started ? r.outcome : r.skipped);
      }
      expect(outcomes.filter((o) => o === 'submitted')).toHaveLength(3);
      const paid = (await env.t.store.billing.orders({ workspaceId: ws, limit: 100 })).filter(
        (o) => o.status === 'paid',
      );
      const spentCents = paid.reduce((s, o) => s + o.priceCents, 0);
      console.log(
        `auto top-up month on ${dialect.name}: 50 crossings → ${paid.length} purchases, $${spentCents / 100} of a $35 cap; ` +
          `${outcomes.filter((o) => o === 'cap_reached').length} stopped by the cap`,
      );
      expect(spentCents).toBeLessThanOrEqual(3500);
      expect(spentCents).toBe(3000);
    });

    it('sandbox: three declines in a row turn auto top-up off, with one notification to the owners', async () => {
      env = await appWith(dialect, createSandboxProvider({ secret: 'sandbox-secret-0123456789' }));
      const ws = await env.workspace();
      await saveSandboxCard(ws, '0002');
      await env.enable(ws, 100_000);
      const outcomes = [];
      for (let i = 0; i < 4; i += 1) {
        const r = await env.runner.run({
          workspaceId: ws,
          wallet: 'video_credits',
          crossingKey: `d-${i}`,
        });
        outcomes.push(r.started ? r.outcome : r.skipped);
      }
      expect(outcomes).toEqual(['declined', 'declined', 'declined', 'not_enabled']);
      const orders = await env.t.store.billing.orders({ workspaceId: ws, limit: 10 });
      expect(orders.map((o) => o.status)).toEqual(['declined', 'declined', 'declined']);
      const notes = await env.t.store.billing.notifications({ workspaceId: ws, limit: 10 });
      expect(notes.filter((n) => n.kind === 'auto_top_up_off')).toHaveLength(1);
      const setting = (await env.t.store.autoTopUp.settings({ workspaceId: ws }))[0];
      expect(setting).toMatchObject({ enabled: false, disabledReason: 'declines' });
      expect(await reconcileAutoTopUps({ store: env.t.store, now: env.t.clock.now() })).toBe(0);
    });

    describe('stripe (offline)', () => {
      /** What the SDK sent; answered by a fake fetch (nothing leaves the process). */
      let requests: { path: string; body: URLSearchParams; headers: Headers }[];
      let declineNext: boolean;
      let stripeDown: boolean;

      async function stripeApp() {
        requests = [];
        declineNext = false;
        stripeDown = false;
        const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
          const req = new Request(input, init);
          const path = new URL(req.url).pathname;
          requests.push({
            path,
            body: new URLSearchParams(await req.text()),
            headers: req.headers,
          });
          const json = (status: number, body: unknown) =>
            new Response(JSON.stringify(body), {
              status,
              headers: {
                'content-type': 'application/json',
                'request-id': `req_${requests.length}`,
              },
            });
          if (stripeDown)
            return json(503, { error: { type: 'api_error', message: 'Stripe is down' } });
          if (path === '/v1/customers') return json(200, { id: 'cus_test_1', object: 'customer' });
          if (path === '/v1/checkout/sessions')
            return json(200, {
              id: 'cs_test_setup',
              object: 'checkout.session',
              url: 'https://checkout.stripe.com/c/setup/cs_test_setup',
            });
          if (path === '/v1/payment_intents')
            return json(200, {
              id: `pi_test_${requests.length}`,
              object: 'payment_intent',
              status: 'requires_confirmation',
            });
          if (path.endsWith('/confirm')) {
            if (declineNext)
              return json(402, {
                error: {
                  type: 'card_error',
                  code: 'card_declined',
                  message: 'Your card was declined.',
                },
              });
            return json(200, {
              id: path.split('/')[3],
              object: 'payment_intent',
              status: 'succeeded',
            });
          }
          return json(404, { error: { type: 'invalid_request_error', message: `no ${path}` } });
        }) as typeof fetch;
        const stripe = new Stripe('sk_test_offline', {
          httpClient: Stripe.createFetchHttpClient(fakeFetch),
          maxNetworkRetries: 0,
        });
        return appWith(
          dialect,
          createStripeProvider({ webhookSecret: STRIPE_WEBHOOK_SECRET, stripe }),
        );
      }

      async function deliver(
        type: string,
        object: Record<string, unknown>,
        id = `evt_${randomUUID()}`,
      ) {
        const payload = JSON.stringify({
          id,
          object: 'event',
          type,
          api_version: '2025-01-01',
          created: 1,
          data: { object },
        });
        const header = Stripe.webhooks.generateTestHeaderString({
          payload,
          secret: STRIPE_WEBHOOK_SECRET,
          timestamp: Math.floor(env!.t.clock.now() / 1000),
        });
        const res = await env!.t.app.request('/webhooks/stripe', {
          method: 'POST',
          headers: { 'content-type': 'application/json', [STRIPE_SIGNATURE_HEADER]: header },
          body: payload,
        });
        return (await res.json()) as { result?: string };
      }

      it('saves a card through Checkout in setup mode, charges it off-session, and credits only on the signed webhook', async () => {
        env = await stripeApp();
        const ws = await env.workspace();
        const { url } = await env.call<{ url: string }>('autoTopUp.setupPaymentMethod', {
          workspaceId: ws,
        });
        expect(url).toBe('https://checkout.stripe.com/c/setup/cs_test_setup');
        expect(requests.map((r) => r.path)).toEqual(['/v1/customers', '/v1/checkout/sessions']);
        expect(requests[0]!.headers.get('idempotency-key')).toBe(`credits-customer-${ws}`);
        expect(Object.fromEntries(requests[1]!.body)).toMatchObject({
          mode: 'setup',
          customer: 'cus_test_1',
          'allowed_payment_method_types[0]': 'card',
          client_reference_id: ws,
          'setup_intent_data[metadata][workspaceId]': ws,
          'setup_intent_data[metadata][purpose]': 'auto_top_up',
          success_url: `${PUBLIC_URL}/billing?card=saved`,
        });
        const metadata = { workspaceId: ws, createdBy: 'service:env', purpose: 'auto_top_up' };
        expect(
          await deliver('setup_intent.succeeded', {
            id: 'seti_1',
            object: 'setup_intent',
            customer: 'cus_test_1',
            payment_method: 'pm_card_visa',
            metadata,
          }),
        ).toMatchObject({ result: 'method_saved' });
        expect(
          await env.t.store.autoTopUp.paymentMethod({ workspaceId: ws, provider: 'stripe' }),
        ).toMatchObject({ customerRef: 'cus_test_1', methodRef: 'pm_card_visa' });

        await env.enable(ws, 5000);
        const before = await env.balance(ws);
        requests = [];
        const run = await env.runner.run({
          workspaceId: ws,
          wallet: 'video_credits',
          crossingKey: 'x1',
        });
        expect(run).toMatchObject({ started: true, outcome: 'submitted' });
        const orderId = (run as { orderId: string }).orderId;
        expect(requests.map((r) => r.path)).toEqual([
          '/v1/payment_intents',
          '/v1/payment_intents/pi_test_1/confirm',
        ]);
        expect(requests[0]!.headers.get('idempotency-key')).toBe(`credits-topup-${orderId}`);
        expect(Object.fromEntries(requests[0]!.body)).toMatchObject({
          amount: '1000',
          currency: 'usd',
          customer: 'cus_test_1',
          payment_method: 'pm_card_visa',
          'metadata[orderId]': orderId,
          'metadata[purpose]': 'auto_top_up',
        });
        expect(Object.fromEntries(requests[1]!.body)).toEqual({ off_session: 'true' });
        // Confirmed, but no credits until Stripe's webhook says paid.
        expect(await env.balance(ws)).toBe(before);
        expect(await env.t.store.billing.order({ orderId })).toMatchObject({
          status: 'pending',
          providerSession: 'pi_test_1',
        });
        const paid = {
          id: 'pi_test_1',
          object: 'payment_intent',
          amount: 1000,
          amount_received: 1000,
          currency: 'usd',
          metadata: { orderId, workspaceId: ws, purpose: 'auto_top_up' },
        };
        // A signed success for another amount or order is refused (security finding 7).
        expect(
          await deliver('payment_intent.succeeded', { ...paid, amount_received: 1 }, 'evt_pi_1'),
        ).toMatchObject({ result: 'mismatch' });
        expect(
          await deliver(
            'payment_intent.succeeded',
            { ...paid, metadata: { ...paid.metadata, orderId: 'ord_other' } },
            'evt_pi_other',
          ),
        ).toMatchObject({ result: 'mismatch' });
        expect(await env.balance(ws)).toBe(before);
        expect(await deliver('payment_intent.succeeded', paid, 'evt_pi_paid')).toMatchObject({
          result: 'paid',
        });
        expect(await deliver('payment_intent.succeeded', paid, 'evt_pi_paid')).toMatchObject({
          result: 'duplicate',
        });
        expect(await env.balance(ws)).toBe(before + 200);
        // Checkout's own payment intents (no auto top-up metadata) are not ours to settle.
        expect(
          await deliver('payment_intent.succeeded', {
            id: 'pi_checkout',
            object: 'payment_intent',
            metadata: {},
          }),
        ).toMatchObject({ result: 'ignored' });
        expect(
          (await env.t.store.autoTopUp.attempts({ workspaceId: ws, limit: 5 }))[0],
        ).toMatchObject({
          status: 'paid',
        });
      });

      it('Stripe unreachable when the payment is made: the attempt ends at once, uncounted, and the next crossing tries again', async () => {
        env = await stripeApp();
        const ws = await env.workspace();
        await env.t.store.autoTopUp.savePaymentMethod({
          workspaceId: ws,
          provider: 'stripe',
          customerRef: 'cus_test_1',
          methodRef: 'pm_card_visa',
          label: 'Card saved with Stripe',
          createdBy: 'test',
          now: env.t.clock.now(),
        });
        await env.enable(ws, 5000);
        stripeDown = true;
        const run = await env.runner.run({
          workspaceId: ws,
          wallet: 'video_credits',
          crossingKey: 'x1',
        });
        expect(run).toMatchObject({ started: true, outcome: 'failed' });
        const orderId = (run as { orderId: string }).orderId;
        expect(await env.t.store.billing.order({ orderId })).toMatchObject({ status: 'expired' });
        expect((await env.t.store.autoTopUp.settings({ workspaceId: ws }))[0]).toMatchObject({
          enabled: true,
          consecutiveFailures: 0,
        });
        stripeDown = false;
        expect(
          await env.runner.run({ workspaceId: ws, wallet: 'video_credits', crossingKey: 'x2' }),
        ).toMatchObject({ started: true, outcome: 'submitted' });
      });

      it('a card declined off-session: the order waits for the failed-payment webhook, which counts one failure', async () => {
        env = await stripeApp();
        const ws = await env.workspace();
        await env.t.store.autoTopUp.savePaymentMethod({
          workspaceId: ws,
          provider: 'stripe',
          customerRef: 'cus_test_1',
          methodRef: 'pm_card_chargeDeclined',
          label: 'Card saved with Stripe',
          createdBy: 'test',
          now: env.t.clock.now(),
        });
        await env.enable(ws, 5000);
        const before = await env.balance(ws);
        declineNext = true;
        const run = await env.runner.run({
          workspaceId: ws,
          wallet: 'video_credits',
          crossingKey: 'x1',
        });
        expect(run).toMatchObject({ started: true, outcome: 'declined' });
        const orderId = (run as { orderId: string }).orderId;
        const order = await env.t.store.billing.order({ orderId });
        expect(order?.status).toBe('pending');
        expect(
          await deliver('payment_intent.payment_failed', {
            id: order!.providerSession,
            object: 'payment_intent',
            metadata: { orderId, workspaceId: ws, purpose: 'auto_top_up' },
          }),
        ).toMatchObject({ result: 'declined' });
        expect(await env.balance(ws)).toBe(before);
        expect((await env.t.store.autoTopUp.settings({ workspaceId: ws }))[0]).toMatchObject({
          enabled: true,
          consecutiveFailures: 1,
        });
      });
    });
  });
}
