import { randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_PACKS } from '@credits/domain';
import type { Store } from '../src/types.js';
import { DIALECTS, type TestStore } from './dialects.js';
import { T0, key, workspace } from './fixtures.js';

/**
 * A `paid` event credits its order only when what it says was paid is the order's own: the
 * amount in minor units, the currency (any letter case) and the order's id as the provider's
 * reference. Property: for any figures an event carries, the order is credited exactly when
 * all three match; otherwise the answer is `mismatch` naming exactly the wrong figures, the
 * wallet does not move and the order stays pending, so the true event that follows credits it
 * once and a replay of that event credits nothing more.
 */
const pack = DEFAULT_PACKS.find((p) => p.wallet === 'image_credits')!;

/** What an event may say about one figure: the order's own value, or some other. */
const amountOf = fc.oneof(
  fc.constant<'own'>('own'),
  fc.constant(null),
  fc.integer({ min: -3, max: 3 }).filter((d) => d !== 0),
  fc.integer({ min: 0, max: 1_000_000 }),
);
const currencyOf = fc.oneof(
  fc.constant<'own'>('own'),
  fc.constant<'OWN'>('OWN'),
  fc.constant(null),
  fc.constantFrom('jpy', 'eur', 'usd ', ''),
);
const referenceOf = fc.oneof(
  fc.constant<'own'>('own'),
  fc.constant(null),
  fc.constantFrom('ord_other', ''),
);

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(
    `payment events must match their order on ${dialect.name}`,
    () => {
      let t: TestStore;
      let store: Store;
      let workspaceId: string;
      beforeAll(async () => {
        t = await dialect.make();
        store = t.store;
        workspaceId = (await workspace(store)).id;
      });
      afterAll(async () => {
        if (store) expect((await store.verify()).violations).toEqual([]);
        await t?.cleanup();
      });

      const balance = async () =>
        (await store.wallets(workspaceId)).find((w) => w.kind === pack.wallet)!.available;

      it('property: credited exactly when amount, currency and reference are the order’s', async () => {
        await fc.assert(
          fc.asyncProperty(
            amountOf,
            currencyOf,
            referenceOf,
            async (amount, currency, reference) => {
              const order = await store.billing.createOrder({
                workspaceId,
                pack,
                provider: 'sandbox',
                createdBy: 'test',
                now: T0,
                idempotencyKey: key(),
                requestHash: 'h',
              });
              const session = `sess_${randomBytes(6).toString('hex')}`;
              await store.billing.attachSession({
                orderId: order.id,
                session,
                url: 'http://x',
                now: T0,
              });
              const said = {
                amount:
                  amount === 'own'
                    ? order.priceCents
                    : typeof amount === 'number' && Math.abs(amount) <= 3
                      ? order.priceCents + amount
                      : amount,
                currency:
                  currency === 'own'
                    ? order.currency
                    : currency === 'OWN'
                      ? order.currency.toUpperCase()
                      : currency,
                reference: reference === 'own' ? order.id : reference,
              };
              const wrong = [
                ...(said.amount === order.priceCents ? [] : ['amount']),
                ...(said.currency?.toLowerCase() === order.currency.toLowerCase()
                  ? []
                  : ['currency']),
                ...(said.reference === order.id ? [] : ['reference']),
              ];
              const before = await balance();
              const event = (eventId: string, payment: typeof said) =>
                store.billing.applyPaymentEvent({
                  provider: 'sandbox',
                  eventId,
                  type: 'paid',
                  session,
                  outcome: 'paid',
                  payment,
                  now: T0,
                });
              const first = await event(`evt_${randomBytes(6).toString('hex')}`, said);
              if (wrong.length === 0) {
                expect(first.result).toBe('paid');
                expect(await balance()).toBe(before + pack.credits);
                return;
              }
              expect(first.result).toBe('mismatch');
              expect([...(first.mismatch ?? [])].sort()).toEqual(wrong);
              expect(await balance()).toBe(before);
              expect((await store.billing.order({ orderId: order.id }))!.status).toBe('pending');
              // The true event still credits, once; its replay credits nothing more.
              const trueId = `evt_${randomBytes(6).toString('hex')}`;
              const truth = {
                amount: order.priceCents,
                currency: order.currency,
                reference: order.id,
              };
              expect((await event(trueId, truth)).result).toBe('paid');
              expect((await event(trueId, truth)).result).toBe('duplicate');
              expect(await balance()).toBe(before + pack.credits);
            },
          ),
          { numRuns: 40 },
        );
      });
    },
  );
}
