import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { randomUUID } from 'node:crypto';
import Stripe from 'stripe';
import { appRouter } from '@credits/api';
import type { WalletKind } from '@credits/domain';
import type { Store } from '@credits/store';
import { DIALECTS, type DialectFixture } from '@credits/store/testing';
import {
  SANDBOX_SIGNATURE_HEADER,
  STRIPE_SIGNATURE_HEADER,
  WEBHOOK_BODY_LIMIT_BYTES,
  createSandboxProvider,
  createStripeProvider,
  type PaymentProvider,
  type SandboxProvider,
} from '../src/payments/index.js';
import { formatMoney } from '../src/payments/checkout-page.js';
import { ledgerSnapshot, makeTestApp, TEST_METRICS_TOKEN, type TestApp } from './test-app.js';
const metricsAuth = { headers: { authorization: `Bearer ${TEST_METRICS_TOKEN}` } };

const PUBLIC_URL = 'http://credits.test';
const SANDBOX_SECRET = 'sandbox-test-secret-0123456789';
const STRIPE_WEBHOOK_SECRET = 'whsec_test_0123456789abcdef';
const MINUTE = 60_000;
const DAY = 24 * 60 * MINUTE;
const key = () => `k-${randomUUID()}`;
const PASSWORD = 'correct horse battery staple';
const PACKS = {
  'image-100': { wallet: 'image_credits', credits: 100 },
  'video-200': { wallet: 'video_credits', credits: 200 },
} as const;

interface TrpcBody<T = unknown> {
  result?: { data: T };
  error?: { message: string; data: { code: string; httpStatus: number; reason: string | null } };
}

/** A test app with a payment provider whose self-webhook goes back into the app (no socket). */
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

/** Calls procedures over HTTP the way @trpc/client does (GET for queries, POST for mutations). */
function trpcClient(t: () => TestApp) {
  return async function call<T = unknown>(
    path: string,
    input: unknown,
    auth: { cookie?: string; bearer?: string } = {},
  ): Promise<{ status: number; body: TrpcBody<T>; headers: Headers }> {
    const type = (
      appRouter._def.procedures as unknown as Record<string, { _def: { type: string } }>
    )[path]?._def.type;
    const headers: Record<string, string> = {};
    if (auth.cookie) headers.cookie = auth.cookie;
    if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
    const res =
      type === 'query'
        ? await t().app.request(
            `/trpc/${path}?input=${encodeURIComponent(JSON.stringify(input))}`,
            { headers },
          )
        : await t().app.request(`/trpc/${path}`, {
            method: 'POST',
            // A cookie session must send the CSRF header on writes.
            headers: {
              ...headers,
              'content-type': 'application/json',
              ...(auth.cookie ? { 'x-credits-csrf': '1' } : {}),
            },
            body: JSON.stringify(input),
          });
    return { status: res.status, body: (await res.json()) as TrpcBody<T>, headers: res.headers };
  };
}

async function balances(store: Store, workspaceId: string): Promise<Record<WalletKind, number>> {
  return Object.fromEntries(
    (await store.wallets(workspaceId)).map((w) => [w.kind, w.available]),
  ) as Record<WalletKind, number>;
}

/** Hidden fields and actions of the sandbox page's forms. */
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
  describe.skipIf(dialect.skip !== null)(`payments on ${dialect.name}`, () => {
    let t: TestApp;
    const call = trpcClient(() => t);

    /** A new owner signed in with a session cookie, and their workspace (Free plan). */
    async function signUpOwner(
      workspaceName = 'Acme Studio',
    ): Promise<{ cookie: string; workspaceId: string }> {
      const res = await call<{ workspace: { id: string } }>('auth.signUp', {
        email: `owner-${randomUUID()}@example.test`,
        password: PASSWORD,
        name: 'Olive Owner',
        workspaceName,
      });
      expect(res.status).toBe(200);
      const cookie = /__Host-cw_session=[^;]+/.exec(res.headers.get('set-cookie') ?? '')?.[0];
      expect(cookie).toBeDefined();
      return { cookie: cookie!, workspaceId: res.body.result!.data.workspace.id };
    }

    /** A pending order through `billing.checkout`, with its provider session. */
    async function checkout(
      owner: { cookie: string; workspaceId: string },
      packId: string,
      idempotencyKey = key(),
    ): Promise<{ orderId: string; checkoutUrl: string; session: string }> {
      const res = await call<{ orderId: string; checkoutUrl: string; status: string }>(
        'billing.checkout',
        { workspaceId: owner.workspaceId, packId, idempotencyKey },
        { cookie: owner.cookie },
      );
      expect(res.status).toBe(200);
      const { orderId, checkoutUrl } = res.body.result!.data;
      const order = await t.store.billing.order({ orderId });
      paidFacts.set(order!.providerSession!, {
        amount: order!.priceCents,
        currency: order!.currency,
        reference: orderId,
      });
      return { orderId, checkoutUrl, session: order!.providerSession! };
    }
    /** What the provider reports as paid for each session checkout made: the order's own figures. */
    const paidFacts = new Map<string, { amount: number; currency: string; reference: string }>();

    afterEach(async () => {
      if (!t) return;
      const report = await t.store.verify();
      expect(report.violations).toEqual([]);
      await t.cleanup();
    });

    describe('sandbox webhooks', () => {
      let sandbox: SandboxProvider;
      const nowSec = () => Math.floor(t.clock.now() / 1000);

      async function post(body: string, headers: Record<string, string>): Promise<Response> {
        return t.app.request('/webhooks/sandbox', {
          method: 'POST',
          headers: { 'content-type': 'application/json', ...headers },
          body,
        });
      }
      /** A correctly signed delivery of `body` at the test clock. */
      async function deliver(
        body: string,
        opts: { timestamp?: number; signer?: SandboxProvider } = {},
      ): Promise<Response> {
        const signature = (opts.signer ?? sandbox).sign({
          rawBody: body,
          timestamp: opts.timestamp ?? nowSec(),
        });
        return post(body, { [SANDBOX_SIGNATURE_HEADER]: signature });
      }
      /** A sandbox event as the provider sends it: a payment reports its order's figures. */
      const event = (
        id: string,
        type: string,
        session: string,
        paid:
          { amount?: number; currency?: string; reference?: string } | undefined = paidFacts.get(
          session,
        ),
      ) => JSON.stringify({ id, type, data: { session, ...paid } });

      beforeEach(async () => {
        sandbox = createSandboxProvider({ secret: SANDBOX_SECRET });
        t = await paymentsApp(dialect, sandbox);
      });

      it('refuses a tampered body, a wrong secret, a stale or future timestamp and a bad header: no credits, no event recorded', async () => {
        const owner = await signUpOwner();
        const { orderId, session } = await checkout(owner, 'image-100');
        const before = await ledgerSnapshot(t.store, owner.workspaceId);
        const paid = event('evt_first', 'checkout.paid', session);
        const declined = event('evt_first', 'checkout.declined', session);
        const attempts: { name: string; res: Promise<Response>; status: number; reason: string }[] =
          [
            // Signed as a decline, delivered as a payment.
            {
              name: 'tampered body',
              res: post(paid, {
                [SANDBOX_SIGNATURE_HEADER]: sandbox.sign({
                  rawBody: declined,
                  timestamp: nowSec(),
                }),
              }),
              status: 401,
              reason: 'SIGNATURE_INVALID',
            },
            {
              name: 'wrong secret',
              res: deliver(paid, {
                signer: createSandboxProvider({ secret: 'some-other-secret-0123456789' }),
              }),
              status: 401,
              reason: 'SIGNATURE_INVALID',
            },
            {
              name: 'stale (6 minutes)',
              res: deliver(paid, { timestamp: nowSec() - 6 * 60 }),
              status: 401,
              reason: 'TIMESTAMP_OUT_OF_RANGE',
            },
            {
              name: 'future (6 minutes)',
              res: deliver(paid, { timestamp: nowSec() + 6 * 60 }),
              status: 401,
              reason: 'TIMESTAMP_OUT_OF_RANGE',
            },
            { name: 'no header', res: post(paid, {}), status: 400, reason: 'SIGNATURE_MISSING' },
            {
              name: 'garbage header',
              res: post(paid, { [SANDBOX_SIGNATURE_HEADER]: 'v1=abc' }),
              status: 400,
              reason: 'SIGNATURE_MISSING',
            },
            {
              name: 'signed, not JSON',
              res: deliver('not json'),
              status: 400,
              reason: 'PAYLOAD_INVALID',
            },
            {
              name: 'signed, not an event',
              res: deliver(JSON.stringify({ id: 'nope', data: {} })),
              status: 400,
              reason: 'PAYLOAD_INVALID',
            },
          ];
        for (const a of attempts) {
          const res = await a.res;
          expect({ name: a.name, status: res.status, body: await res.json() }).toMatchObject({
            name: a.name,
            status: a.status,
            body: { received: false, reason: a.reason },
          });
        }
        expect(await ledgerSnapshot(t.store, owner.workspaceId)).toEqual(before);
        expect((await t.store.billing.order({ orderId }))!.status).toBe('pending');

        // The refused deliveries claimed nothing: the genuine event with the same id still pays, once.
        const ok = await deliver(paid);
        expect(ok.status).toBe(200);
        expect(await ok.json()).toEqual({ received: true, result: 'paid', orderId });
        expect((await balances(t.store, owner.workspaceId)).image_credits).toBe(100);

        const metrics = await (await t.app.request('/metrics', metricsAuth)).text();
        expect(metrics).toMatch(
          /credits_payment_webhooks_total\{provider="sandbox",result="SIGNATURE_INVALID"\} 2/,
        );
        expect(metrics).toMatch(
          /credits_payment_webhooks_total\{provider="sandbox",result="TIMESTAMP_OUT_OF_RANGE"\} 2/,
        );
        expect(metrics).toMatch(
          /credits_payment_webhooks_total\{provider="sandbox",result="paid"\} 1/,
        );
      });

      it('one paid event delivered 10 times at once, and again days later, grants once', async () => {
        const owner = await signUpOwner();
        const { orderId, session } = await checkout(owner, 'image-100');
        const body = event('evt_retried', 'checkout.paid', session);
        const header = sandbox.sign({ rawBody: body, timestamp: nowSec() });
        const answers = await Promise.all(
          Array.from({ length: 10 }, () =>
            post(body, { [SANDBOX_SIGNATURE_HEADER]: header }).then(async (r) => ({
              status: r.status,
              ...((await r.json()) as { result: string }),
            })),
          ),
        );
        expect(answers.map((a) => a.status)).toEqual(Array(10).fill(200));
        expect(answers.filter((a) => a.result === 'paid')).toHaveLength(1);
        expect(answers.filter((a) => a.result === 'duplicate')).toHaveLength(9);

        // Days later (a new clock), the provider retries the same event, freshly signed.
        t.clock.advance(3 * DAY);
        const late = await deliver(body);
        expect(late.status).toBe(200);
        expect(await late.json()).toMatchObject({ result: 'duplicate' });
        // A different event for the settled order adds nothing either.
        const other = await deliver(event('evt_another', 'checkout.paid', session));
        expect(await other.json()).toMatchObject({ result: 'already_settled', orderId });

        expect((await balances(t.store, owner.workspaceId)).image_credits).toBe(100);
        const purchases = await t.store.history({
          workspaceId: owner.workspaceId,
          types: ['purchase'],
          limit: 50,
        });
        expect(purchases.items).toHaveLength(1);
        expect(purchases.items[0]).toMatchObject({ wallet: 'image_credits', amount: 100, orderId });
      });

      for (const [packId, pack] of Object.entries(PACKS)) {
        it(`a paid ${packId} pack adds to ${pack.wallet} only: the plan and the other wallets are untouched`, async () => {
          const owner = await signUpOwner();
          // Something in every other wallet, so "untouched" means something.
          for (const wallet of ['image_credits', 'video_credits'] as const) {
            const g = await call(
              'admin.ledger.grant',
              {
                workspaceId: owner.workspaceId,
                wallet,
                amount: 40,
                reason: 'Test',
                idempotencyKey: key(),
              },
              { bearer: t.serviceKey },
            );
            expect(g.status).toBe(200);
          }
          const workspaceBefore = await t.store.getWorkspace(owner.workspaceId);
          const walletsBefore = await t.store.wallets(owner.workspaceId);
          const listBefore = await call<{ wallets: { kind: string }[] }>(
            'wallets.list',
            { workspaceId: owner.workspaceId },
            { cookie: owner.cookie },
          );
          const { session } = await checkout(owner, packId);

          const res = await deliver(
            event(`evt_${packId.replace('-', '_')}`, 'checkout.paid', session),
          );
          expect(await res.json()).toMatchObject({ result: 'paid' });

          expect(await t.store.getWorkspace(owner.workspaceId)).toEqual(workspaceBefore);
          const walletsAfter = await t.store.wallets(owner.workspaceId);
          for (const w of walletsAfter) {
            const was = walletsBefore.find((b) => b.kind === w.kind)!;
            if (w.kind === pack.wallet) expect(w.available).toBe(was.available + pack.credits);
            else expect(w).toEqual(was);
          }
          // The API's view: every other wallet (AI Tokens' plan limit and cycle included) reads the same.
          const listAfter = await call<{ wallets: { kind: string }[] }>(
            'wallets.list',
            { workspaceId: owner.workspaceId },
            { cookie: owner.cookie },
          );
          expect(listAfter.body.result!.data.wallets.filter((w) => w.kind !== pack.wallet)).toEqual(
            listBefore.body.result!.data.wallets.filter((w) => w.kind !== pack.wallet),
          );
          const purchaseLots = (await t.store.lots({ workspaceId: owner.workspaceId })).filter(
            (l) => l.source === 'purchase',
          );
          expect(purchaseLots).toEqual([
            expect.objectContaining({
              wallet: pack.wallet,
              granted: pack.credits,
              remaining: pack.credits,
            }),
          ]);
        });
      }

      it('a declined checkout adds nothing, and a later payment event for it is refused as settled', async () => {
        const owner = await signUpOwner();
        const { orderId, session } = await checkout(owner, 'video-200');
        const before = await balances(t.store, owner.workspaceId);
        expect(
          await (await deliver(event('evt_decl', 'checkout.declined', session))).json(),
        ).toMatchObject({ result: 'declined', orderId });
        expect(
          await (await deliver(event('evt_late_pay', 'checkout.paid', session))).json(),
        ).toMatchObject({ result: 'already_settled' });
        expect(await balances(t.store, owner.workspaceId)).toEqual(before);
        expect((await t.store.billing.order({ orderId }))!.status).toBe('declined');
        expect(
          (
            await t.store.history({
              workspaceId: owner.workspaceId,
              types: ['purchase'],
              limit: 10,
            })
          ).items,
        ).toEqual([]);
      });

      it('a signed payment for another amount, currency or order is refused and audited, the order stays pending (security finding 7)', async () => {
        const owner = await signUpOwner();
        const { orderId, session } = await checkout(owner, 'video-200');
        const other = await checkout(owner, 'image-100');
        const real = paidFacts.get(session)!;
        const before = await balances(t.store, owner.workspaceId);
        const wrongs = [
          { amount: 1, currency: 'jpy', reference: other.orderId },
          { ...real, amount: real.amount + 1 },
          { ...real, currency: 'eur' },
          { ...real, reference: other.orderId },
          {},
        ];
        for (const [i, paid] of wrongs.entries()) {
          const res = await deliver(event(`evt_wrong_${i}`, 'checkout.paid', session, paid));
          expect(await res.json()).toEqual({ received: true, result: 'mismatch', orderId });
        }
        expect(await balances(t.store, owner.workspaceId)).toEqual(before);
        expect((await t.store.billing.order({ orderId }))!.status).toBe('pending');
        expect(
          (await t.store.accounts.auditLog({ action: 'payment.mismatch', limit: 10 })).items,
        ).toHaveLength(wrongs.length);
        expect(
          await (await deliver(event('evt_right', 'checkout.paid', session))).json(),
        ).toMatchObject({ result: 'paid', orderId });
        expect((await balances(t.store, owner.workspaceId)).video_credits).toBe(
          before.video_credits + 200,
        );
      });

      it('answers 200 for an unknown session and an ignored type, 404 for another provider, 413 for a huge body', async () => {
        const unknown = await deliver(
          event('evt_nobody', 'checkout.paid', 'sbx_00000000000000000000000000000000'),
        );
        expect(unknown.status).toBe(200);
        expect(await unknown.json()).toEqual({
          received: true,
          result: 'unknown_order',
          orderId: null,
        });

        const ignored = await deliver(event('evt_other', 'customer.updated', 'sbx_x'));
        expect(await ignored.json()).toEqual({ received: true, result: 'ignored' });

        const other = await t.app.request('/webhooks/stripe', { method: 'POST', body: '{}' });
        expect(other.status).toBe(404);
        expect(await other.json()).toMatchObject({ reason: 'UNKNOWN_PROVIDER' });

        const huge = await deliver(
          JSON.stringify({
            id: 'evt_big',
            type: 'checkout.paid',
            data: { session: 'x', pad: 'x'.repeat(WEBHOOK_BODY_LIMIT_BYTES) },
          }),
        );
        expect(huge.status).toBe(413);
      });
    });

    describe('a purchase end to end through the sandbox, over HTTP', () => {
      beforeEach(async () => {
        t = await paymentsApp(dialect, createSandboxProvider({ secret: SANDBOX_SECRET }));
      });

      /** Submit one of the page's forms the way a browser does. */
      async function submit(
        pageUrl: string,
        form: { action: string; fields: Record<string, string> },
      ) {
        return t.app.request(new URL(form.action, pageUrl).toString(), {
          method: 'POST',
          headers: { 'content-type': 'application/x-www-form-urlencoded' },
          body: new URLSearchParams(form.fields).toString(),
        });
      }

      it('checkout → the sandbox page → Pay → the signed webhook → new balance, purchase entry, paid order; then a refund', async () => {
        const owner = await signUpOwner('Acme <Studio> & Co');
        const auth = { cookie: owner.cookie };

        const packs = await call<
          { id: string; wallet: string; credits: number; priceCents: number }[]
        >('billing.packs', { workspaceId: owner.workspaceId, wallet: 'image_credits' }, auth);
        expect(packs.status).toBe(200);
        const pack = packs.body.result!.data.find((p) => p.id === 'image-100')!;
        expect(pack).toMatchObject({ wallet: 'image_credits', credits: 100, priceCents: 500 });

        const checkoutKey = key();
        const made = await call<{
          orderId: string;
          checkoutUrl: string;
          status: string;
          wallet: string;
          credits: number;
        }>(
          'billing.checkout',
          { workspaceId: owner.workspaceId, packId: pack.id, idempotencyKey: checkoutKey },
          auth,
        );
        expect(made.status).toBe(200);
        const { orderId, checkoutUrl } = made.body.result!.data;
        expect(made.body.result!.data).toMatchObject({
          status: 'pending',
          wallet: 'image_credits',
          credits: 100,
        });
        expect(checkoutUrl).toMatch(
          /^http:\/\/credits\.test\/checkout\/sandbox\/sbx_[0-9a-f]{32}\?return=/,
        );

        // The checkout page: the pack, the price, the workspace (escaped), Pay and Decline.
        const pageRes = await t.app.request(checkoutUrl);
        expect(pageRes.status).toBe(200);
        expect(pageRes.headers.get('content-type')).toMatch(/^text\/html/);
        expect(pageRes.headers.get('content-security-policy')).toContain("default-src 'none'");
        const html = await pageRes.text();
        expect(html).toContain('<html lang="en">');
        expect(html).toContain('100 Image Credits');
        expect(html).toContain('$5.00');
        expect(html).toContain('Acme &lt;Studio&gt; &amp; Co');
        expect(html).not.toContain('<Studio>');
        const forms = parseForms(html);
        expect(forms.map((f) => f.action)).toEqual([
          expect.stringMatching(/\/pay$/),
          expect.stringMatching(/\/decline$/),
        ]);
        expect(html).toMatch(/<button type="submit" class="pay">Pay \$5\.00<\/button>/);
        expect(html).toMatch(/<button type="submit" class="decline">Decline<\/button>/);

        // Pay: the server sends itself the signed webhook, then sends the browser back.
        const paid = await submit(checkoutUrl, forms[0]!);
        expect(paid.status).toBe(303);
        expect(paid.headers.get('location')).toBe(
          `${PUBLIC_URL}/billing?order=${orderId}&status=paid`,
        );

        const wallets = await call<{ wallets: { kind: string; balance: number }[] }>(
          'wallets.list',
          { workspaceId: owner.workspaceId },
          auth,
        );
        expect(
          wallets.body.result!.data.wallets.find((w) => w.kind === 'image_credits')!.balance,
        ).toBe(100);
        const history = await call<{
          items: {
            type: string;
            wallet: string;
            amount: number;
            orderId: string | null;
            balanceAfter: number;
          }[];
        }>('usage.history', { workspaceId: owner.workspaceId, wallet: 'image_credits' }, auth);
        expect(history.body.result!.data.items).toEqual([
          expect.objectContaining({
            type: 'purchase',
            wallet: 'image_credits',
            amount: 100,
            orderId,
            balanceAfter: 100,
          }),
        ]);
        const orders = await call<{ id: string; status: string; lotId: string | null }[]>(
          'billing.orders',
          { workspaceId: owner.workspaceId },
          auth,
        );
        expect(orders.body.result!.data).toEqual([
          expect.objectContaining({ id: orderId, status: 'paid', lotId: expect.any(String) }),
        ]);

        // A replayed checkout is the same order; its page now says paid and has no buttons; a stale Pay adds nothing.
        const again = await call<{ orderId: string; checkoutUrl: string }>(
          'billing.checkout',
          { workspaceId: owner.workspaceId, packId: pack.id, idempotencyKey: checkoutKey },
          auth,
        );
        expect(again.body.result!.data).toMatchObject({ orderId, checkoutUrl });
        const settledPage = await (await t.app.request(checkoutUrl)).text();
        expect(settledPage).toContain('already <strong>paid</strong>');
        expect(parseForms(settledPage)).toEqual([]);
        const stalePay = await submit(checkoutUrl, forms[0]!);
        expect(stalePay.headers.get('location')).toBe(
          `${PUBLIC_URL}/billing?order=${orderId}&status=paid`,
        );
        expect((await balances(t.store, owner.workspaceId)).image_credits).toBe(100);

        // Spend some, then an admin refunds: the rest leaves, and the answer says what was spent.
        const spent = await call<{ credits: number; balance: number }>(
          'usage.charge',
          {
            workspaceId: owner.workspaceId,
            job: { kind: 'image', type: 'logo', count: 1 },
            idempotencyKey: key(),
          },
          auth,
        );
        expect(spent.status).toBe(200);
        const cost = spent.body.result!.data.credits;
        expect(cost).toBeGreaterThan(0);
        const refund = await call<{
          refunded: number;
          alreadySpent: number;
          stillHeld: number;
          balance: number;
        }>(
          'admin.orders.refund',
          { orderId, reason: 'Customer asked', idempotencyKey: key() },
          { bearer: t.serviceKey },
        );
        expect(refund.status).toBe(200);
        expect(refund.body.result!.data).toEqual({
          orderId,
          refunded: 100 - cost,
          alreadySpent: cost,
          stillHeld: 0,
          balance: 0,
        });
        expect((await balances(t.store, owner.workspaceId)).image_credits).toBe(0);
        const refunds = await t.store.history({
          workspaceId: owner.workspaceId,
          types: ['refund'],
          limit: 10,
        });
        expect(refunds.items).toEqual([
          expect.objectContaining({ wallet: 'image_credits', amount: -(100 - cost), orderId }),
        ]);
        const afterRefund = await call<
          { id: string; status: string; refundedCredits: number; spentBeforeRefund: number }[]
        >('billing.orders', { workspaceId: owner.workspaceId }, auth);
        expect(afterRefund.body.result!.data[0]).toMatchObject({
          status: 'refunded',
          refundedCredits: 100 - cost,
          spentBeforeRefund: cost,
        });
      });

      it('Decline adds nothing and returns with status=declined', async () => {
        const owner = await signUpOwner();
        const before = await ledgerSnapshot(t.store, owner.workspaceId);
        const { orderId, checkoutUrl } = await checkout(owner, 'video-200');
        const forms = parseForms(await (await t.app.request(checkoutUrl)).text());
        const res = await submit(checkoutUrl, forms[1]!);
        expect(res.status).toBe(303);
        expect(res.headers.get('location')).toBe(
          `${PUBLIC_URL}/billing?order=${orderId}&status=declined`,
        );
        expect(await ledgerSnapshot(t.store, owner.workspaceId)).toEqual(before);
        expect((await t.store.billing.order({ orderId }))!.status).toBe('declined');
      });

      it('a plan upgrade: checkout → the sandbox page → Pay → the plan changes at once, in a cycle nobody had granted yet, once', async () => {
        const owner = await signUpOwner();
        // A new cycle has begun and no request has granted its allowance yet: the paid event
        // must grant it first, or the upgrade's top-up would be a second full allowance. (The
        // session has lapsed by then: the server's own service key asks, as an admin may.)
        t.clock.advance(32 * DAY);
        const auth = { bearer: t.serviceKey };
        const made = await call<{ orderId: string; checkoutUrl: string; priceCents: number }>(
          'plans.checkout',
          { workspaceId: owner.workspaceId, plan: 'pro', idempotencyKey: key() },
          auth,
        );
        expect(made.status).toBe(200);
        const { orderId, checkoutUrl } = made.body.result!.data;
        expect(made.body.result!.data.priceCents).toBe(4_900);
        const html = await (await t.app.request(checkoutUrl)).text();
        expect(html).toContain('Pro plan (1,000,000 AI Tokens per cycle)');
        expect(html).toContain('$49.00');
        const paid = await submit(checkoutUrl, parseForms(html)[0]!);
        expect(paid.status).toBe(303);
        expect(paid.headers.get('location')).toBe(
          `${PUBLIC_URL}/plans?order=${orderId}&status=paid`,
        );
        const ai = async () =>
          (
            await call<{ balance: number; cycle: { planLimit: number; usedThisCycle: number } }>(
              'wallets.get',
              { workspaceId: owner.workspaceId, wallet: 'ai_tokens' },
              auth,
            )
          ).body.result!.data;
        expect(await ai()).toMatchObject({
          balance: 1_000_000,
          cycle: { planLimit: 1_000_000, usedThisCycle: 0 },
        });
        const plans = await call<{ currentPlan: string }>(
          'plans.list',
          { workspaceId: owner.workspaceId },
          auth,
        );
        expect(plans.body.result!.data.currentPlan).toBe('pro');
        // Pressing Pay again (a stale page) changes nothing.
        const again = await submit(checkoutUrl, parseForms(html)[0]!);
        expect(again.status).toBe(303);
        expect(await ai()).toMatchObject({ balance: 1_000_000, cycle: { planLimit: 1_000_000 } });
        // A plan order has a receipt naming the plan.
        const receipt = await call<{ pack: string; kind: string; planId: string }>(
          'receipts.get',
          { workspaceId: owner.workspaceId, orderId },
          auth,
        );
        expect(receipt.body.result!.data).toMatchObject({
          kind: 'plan',
          planId: 'pro',
          pack: 'Pro plan (1,000,000 AI Tokens per cycle)',
        });
      });

      it("only the page's own forms can pay: a missing or forged token, or a changed return path, is refused", async () => {
        const owner = await signUpOwner();
        const { orderId, checkoutUrl } = await checkout(owner, 'image-100');
        const [pay] = parseForms(await (await t.app.request(checkoutUrl)).text());
        const forged = [
          { ...pay!, fields: { return: pay!.fields.return! } },
          { ...pay!, fields: { ...pay!.fields, token: 'f'.repeat(64) } },
          { ...pay!, fields: { ...pay!.fields, return: '/somewhere-else' } },
          // Another session's token does not open this one.
          { ...pay!, action: pay!.action.replace(/sbx_[0-9a-f]{32}/, `sbx_${'0'.repeat(32)}`) },
        ];
        for (const f of forged) {
          const res = await submit(checkoutUrl, f);
          expect(res.status).toBe(403);
        }
        expect((await t.store.billing.order({ orderId }))!.status).toBe('pending');
        expect((await balances(t.store, owner.workspaceId)).image_credits).toBe(0);

        // The return path stays on this site.
        const offsite = await t.app.request(
          checkoutUrl.replace(/\?return=.*$/, `?return=${encodeURIComponent('//evil.example/x')}`),
        );
        const [offsitePay] = parseForms(await offsite.text());
        expect(offsitePay!.fields.return).toBe('/');

        const missing = await t.app.request(`${PUBLIC_URL}/checkout/sandbox/sbx_${'0'.repeat(32)}`);
        expect(missing.status).toBe(404);
      });
    });

    describe('stripe (offline)', () => {
      /** What the SDK sent to the Stripe API (answered by a fake `fetch`: nothing leaves the process). */
      let requests: { url: string; method: string; headers: Headers; body: URLSearchParams }[];
      let sessionSeq: number;

      beforeEach(async () => {
        requests = [];
        sessionSeq = 0;
        const fakeFetch = (async (input: string | URL | Request, init?: RequestInit) => {
          const req = new Request(input, init);
          requests.push({
            url: req.url,
            method: req.method,
            headers: req.headers,
            body: new URLSearchParams(await req.text()),
          });
          const id = `cs_test_${++sessionSeq}`;
          return new Response(
            JSON.stringify({
              id,
              object: 'checkout.session',
              url: `https://checkout.stripe.com/c/pay/${id}`,
            }),
            {
              status: 200,
              headers: { 'content-type': 'application/json', 'request-id': `req_${sessionSeq}` },
            },
          );
        }) as typeof fetch;
        const stripe = new Stripe('sk_test_offline', {
          httpClient: Stripe.createFetchHttpClient(fakeFetch),
          maxNetworkRetries: 0,
        });
        t = await paymentsApp(
          dialect,
          createStripeProvider({ webhookSecret: STRIPE_WEBHOOK_SECRET, stripe }),
        );
      });

      /** A Checkout Session reports its order's amount, currency and id (tests override them). */
      const stripeFacts = (session: unknown) => {
        const paid = paidFacts.get(String(session));
        return (
          paid && {
            amount_total: paid.amount,
            currency: paid.currency,
            client_reference_id: paid.reference,
            metadata: { orderId: paid.reference },
          }
        );
      };
      const stripeEvent = (id: string, type: string, object: Record<string, unknown>) =>
        JSON.stringify({
          id,
          object: 'event',
          type,
          api_version: '2025-01-01',
          created: 1,
          data: {
            object: {
              object: 'checkout.session',
              ...stripeFacts(object.id),
              ...object,
            },
          },
        });
      async function deliver(
        payload: string,
        opts: { secret?: string; timestamp?: number } = {},
      ): Promise<Response> {
        const header = Stripe.webhooks.generateTestHeaderString({
          payload,
          secret: opts.secret ?? STRIPE_WEBHOOK_SECRET,
          timestamp: opts.timestamp ?? Math.floor(t.clock.now() / 1000),
        });
        return t.app.request('/webhooks/stripe', {
          method: 'POST',
          headers: { 'content-type': 'application/json', [STRIPE_SIGNATURE_HEADER]: header },
          body: payload,
        });
      }

      it('checkout creates a Checkout Session with the order price, its id as reference, and our return URLs', async () => {
        const owner = await signUpOwner();
        const { orderId, checkoutUrl, session } = await checkout(owner, 'image-100');
        expect(checkoutUrl).toBe('https://checkout.stripe.com/c/pay/cs_test_1');
        expect(session).toBe('cs_test_1');
        expect(requests).toHaveLength(1);
        const r = requests[0]!;
        expect(r.method).toBe('POST');
        expect(r.url).toBe('https://api.stripe.com/v1/checkout/sessions');
        expect(r.headers.get('idempotency-key')).toBe(`credits-checkout-${orderId}`);
        expect(Object.fromEntries(r.body)).toMatchObject({
          mode: 'payment',
          'line_items[0][price_data][currency]': 'usd',
          'line_items[0][price_data][unit_amount]': '500',
          'line_items[0][price_data][product_data][name]': '100 Image Credits',
          'line_items[0][quantity]': '1',
          success_url: `${PUBLIC_URL}/billing?order=${orderId}&status=paid`,
          cancel_url: `${PUBLIC_URL}/billing?order=${orderId}&status=cancelled`,
          client_reference_id: orderId,
          'metadata[orderId]': orderId,
        });
      });

      it('constructEvent accepts a generateTestHeaderString signature and refuses a wrong secret, a tampered body and a stale timestamp', async () => {
        const owner = await signUpOwner();
        const { orderId, session } = await checkout(owner, 'image-100');
        const before = await ledgerSnapshot(t.store, owner.workspaceId);
        const payload = stripeEvent('evt_stripe_1', 'checkout.session.completed', {
          id: session,
          payment_status: 'paid',
        });

        const wrong = await deliver(payload, { secret: 'whsec_wrong' });
        expect(wrong.status).toBe(401);
        expect(await wrong.json()).toMatchObject({ received: false, reason: 'SIGNATURE_INVALID' });
        const header = Stripe.webhooks.generateTestHeaderString({
          payload,
          secret: STRIPE_WEBHOOK_SECRET,
          timestamp: Math.floor(t.clock.now() / 1000),
        });
        const tampered = await t.app.request('/webhooks/stripe', {
          method: 'POST',
          headers: { [STRIPE_SIGNATURE_HEADER]: header },
          body: payload.replace('"paid"', '"paid" '),
        });
        expect(tampered.status).toBe(401);
        const stale = await deliver(payload, {
          timestamp: Math.floor((t.clock.now() - 6 * MINUTE) / 1000),
        });
        expect(stale.status).toBe(401);
        expect(await stale.json()).toMatchObject({ reason: 'TIMESTAMP_OUT_OF_RANGE' });
        const future = await deliver(payload, {
          timestamp: Math.floor((t.clock.now() + 6 * MINUTE) / 1000),
        });
        expect(await future.json()).toMatchObject({ reason: 'TIMESTAMP_OUT_OF_RANGE' });
        const none = await t.app.request('/webhooks/stripe', { method: 'POST', body: payload });
        expect(none.status).toBe(400);
        expect(await ledgerSnapshot(t.store, owner.workspaceId)).toEqual(before);

        const ok = await deliver(payload);
        expect(ok.status).toBe(200);
        expect(await ok.json()).toEqual({ received: true, result: 'paid', orderId });
      });

      it('checkout.session.completed for a known session grants once, however often it comes', async () => {
        const owner = await signUpOwner();
        const { orderId, session } = await checkout(owner, 'video-200');
        const before = await balances(t.store, owner.workspaceId);
        const payload = stripeEvent('evt_stripe_done', 'checkout.session.completed', {
          id: session,
          payment_status: 'paid',
          client_reference_id: orderId,
        });
        const answers = await Promise.all(
          Array.from({ length: 10 }, () =>
            deliver(payload).then((r) => r.json() as Promise<{ result: string }>),
          ),
        );
        expect(answers.filter((a) => a.result === 'paid')).toHaveLength(1);
        expect(answers.filter((a) => a.result === 'duplicate')).toHaveLength(9);
        t.clock.advance(5 * DAY);
        expect(await (await deliver(payload)).json()).toMatchObject({ result: 'duplicate' });
        const after = await balances(t.store, owner.workspaceId);
        expect(after).toEqual({ ...before, video_credits: before.video_credits + 200 });
        expect((await t.store.billing.order({ orderId }))!.status).toBe('paid');
      });

      it("a signed event that is not the order's payment (amount, currency or order) is refused and audited; the real one still pays (security finding 7)", async () => {
        const owner = await signUpOwner();
        const { orderId, session } = await checkout(owner, 'image-500');
        const other = await checkout(owner, 'image-100');
        const order = (await t.store.billing.order({ orderId }))!;
        const before = await balances(t.store, owner.workspaceId);
        const answer = async (id: string, object: Record<string, unknown>) => {
          const res = await deliver(
            stripeEvent(id, 'checkout.session.completed', {
              id: session,
              payment_status: 'paid',
              ...object,
            }),
          );
          expect(res.status).toBe(200);
          return (await res.json()) as { result: string; orderId: string | null };
        };
        // The attack: 1 yen, for another order, on this order's session.
        expect(
          await answer('evt_attack', {
            amount_total: 1,
            currency: 'jpy',
            client_reference_id: other.orderId,
            metadata: { orderId: other.orderId },
          }),
        ).toEqual({ received: true, result: 'mismatch', orderId });
        // Each figure wrong on its own is enough.
        expect((await answer('evt_amount', { amount_total: order.priceCents - 1 })).result).toBe(
          'mismatch',
        );
        expect((await answer('evt_currency', { currency: 'eur' })).result).toBe('mismatch');
        expect((await answer('evt_ref', { client_reference_id: other.orderId })).result).toBe(
          'mismatch',
        );
        expect((await answer('evt_meta', { metadata: { orderId: other.orderId } })).result).toBe(
          'mismatch',
        );
        expect(
          (
            await answer('evt_none', {
              amount_total: null,
              currency: null,
              client_reference_id: null,
              metadata: {},
            })
          ).result,
        ).toBe('mismatch');
        expect(await balances(t.store, owner.workspaceId)).toEqual(before);
        expect((await t.store.billing.order({ orderId }))!.status).toBe('pending');
        const audited = await t.store.accounts.auditLog({ action: 'payment.mismatch', limit: 10 });
        expect(audited.items).toHaveLength(6);
        expect(audited.items.at(-1)).toMatchObject({
          actor: 'payment:stripe',
          target: `order:${orderId}`,
          workspaceId: owner.workspaceId,
        });
        expect(audited.items.at(-1)!.reason).toContain('amount, currency, reference');
        // The order's own payment (upper-case currency as some APIs write it) still pays, once.
        expect((await answer('evt_real', { currency: 'USD' })).result).toBe('paid');
        expect((await balances(t.store, owner.workspaceId)).image_credits).toBe(
          before.image_credits + 500,
        );
      });

      it('maps the other checkout events: unpaid completion waits, async success pays, async failure declines, expiry expires, others are ignored', async () => {
        const owner = await signUpOwner();
        const before = await balances(t.store, owner.workspaceId);
        const a = await checkout(owner, 'image-100');
        const b = await checkout(owner, 'image-500');
        const c = await checkout(owner, 'video-200');
        const result = async (payload: string) =>
          ((await (await deliver(payload)).json()) as { result: string }).result;

        expect(
          await result(
            stripeEvent('evt_a1', 'checkout.session.completed', {
              id: a.session,
              payment_status: 'unpaid',
            }),
          ),
        ).toBe('ignored');
        expect((await t.store.billing.order({ orderId: a.orderId }))!.status).toBe('pending');
        expect(
          await result(
            stripeEvent('evt_a2', 'checkout.session.async_payment_succeeded', {
              id: a.session,
              payment_status: 'paid',
            }),
          ),
        ).toBe('paid');
        expect(
          await result(
            stripeEvent('evt_b1', 'checkout.session.async_payment_failed', { id: b.session }),
          ),
        ).toBe('declined');
        expect(
          await result(stripeEvent('evt_c1', 'checkout.session.expired', { id: c.session })),
        ).toBe('expired');
        expect(
          await result(
            JSON.stringify({
              id: 'evt_pi',
              object: 'event',
              type: 'payment_intent.succeeded',
              data: { object: { id: 'pi_1' } },
            }),
          ),
        ).toBe('ignored');

        expect(await balances(t.store, owner.workspaceId)).toEqual({
          ...before,
          image_credits: before.image_credits + 100,
        });
        expect((await t.store.billing.order({ orderId: b.orderId }))!.status).toBe('declined');
        expect((await t.store.billing.order({ orderId: c.orderId }))!.status).toBe('expired');
        expect(
          (
            await t.store.history({
              workspaceId: owner.workspaceId,
              types: ['purchase'],
              limit: 10,
            })
          ).items,
        ).toHaveLength(1);
      });
    });
  });
}

describe('formatMoney', () => {
  it('places the decimal point by the currency, without floats', () => {
    expect(formatMoney({ amountMinor: 500, currency: 'usd' })).toBe('$5.00');
    expect(formatMoney({ amountMinor: 4_000, currency: 'usd' })).toBe('$40.00');
    expect(formatMoney({ amountMinor: 7, currency: 'usd' })).toBe('$0.07');
    expect(formatMoney({ amountMinor: 123_456_789, currency: 'eur' })).toBe('€1,234,567.89');
    expect(formatMoney({ amountMinor: 500, currency: 'jpy' })).toBe('¥500');
  });
});
