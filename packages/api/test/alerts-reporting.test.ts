import { createHmac, timingSafeEqual } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LedgerEntry, Notification } from '@credits/store';
import { DIALECTS } from '@credits/store/testing';
import { SERVICE_CALLER, errorOf, key } from './factory.js';
import {
  ALERT_RETRY_DELAYS_MS,
  ALERT_SIGNATURE_HEADER,
  DAY,
  MINUTE,
  deliverDueAlerts,
  makeBillingApi,
  type AlertPayload,
  type BillingHarness,
  type FetchLike,
} from './billing-harness.js';
import { parseCsv } from './csv.js';
import { historyCsvStream, type HistoryFilter } from '../src/history-csv.js';

/**
 * Issue 5 items 6, 7 and 8: alerts once per crossing into low or empty, read marks, signed
 * alert webhooks with retries and backoff; admin adjustments; usage summary and CSV export.
 * Every test ends with `verify` clean.
 */

const HOOK_URL = 'https://hooks.example.test/credits';
/** An icon costs 2 Image Credits under the default rules (no volume discount below 10). */
const icons = (count: number) => ({ kind: 'image' as const, type: 'icon' as const, count });
/** Per-image rates of the default rules; fewer than 10 images, so no volume discount. */
const IMAGE_RATES = [
  ['brand_mark', 12],
  ['logo', 10],
  ['hero', 8],
  ['product', 6],
  ['background', 5],
  ['social', 4],
  ['icon', 2],
] as const;
/** One image job that costs exactly `credits`. */
function imageJobOf(credits: number) {
  for (const [type, rate] of IMAGE_RATES) {
    const count = credits / rate;
    if (Number.isInteger(count) && count >= 1 && count <= 9)
      return { kind: 'image' as const, type, count };
  }
  throw new Error(`no single image job costs ${credits}`);
}
const ai = (tokens: number) => ({ kind: 'ai' as const, tokens });

/** A fake receiver: records each request, answers with the next scripted status (the last one repeats). */
function fakeReceiver(statuses: (number | 'network-error' | 'hang')[]) {
  const calls: { url: string; headers: Record<string, string>; body: string; at: number }[] = [];
  let i = 0;
  const fetch: FetchLike = async (url, init) => {
    const status = statuses[Math.min(i, statuses.length - 1)]!;
    i += 1;
    calls.push({
      url,
      headers: { ...(init.headers as Record<string, string>) },
      body: init.body as string,
      at: Date.now(),
    });
    if (status === 'network-error') throw new TypeError('fetch failed');
    if (status === 'hang') {
      return new Promise<Response>((_, reject) => {
        init.signal?.addEventListener('abort', () => reject(init.signal?.reason as Error));
      });
    }
    return new Response(status === 200 ? 'ok' : 'nope', { status });
  };
  return { fetch, calls };
}

/** Check a delivery's signature as a receiver would; returns the timestamp it carried. */
function verifySignature(input: {
  header: string | undefined;
  body: string;
  secret: string;
}): number {
  const m = /^t=(\d+),v1=([0-9a-f]{64})$/.exec(input.header ?? '');
  if (!m) throw new Error(`malformed signature header: ${input.header}`);
  const expected = createHmac('sha256', input.secret).update(`${m[1]}.${input.body}`).digest();
  if (!timingSafeEqual(expected, Buffer.from(m[2]!, 'hex'))) throw new Error('signature mismatch');
  return Number(m[1]);
}

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`alerts and reporting on ${dialect.name}`, () => {
    let h: BillingHarness;
    let ws: string;
    beforeEach(async () => {
      h = await makeBillingApi(dialect, { start: Date.UTC(2028, 2, 6, 9) });
      ws = await h.createWorkspace({ plan: 'pro' });
    });
    afterEach(async () => {
      const report = await h.store.verify();
      expect(report.violations).toEqual([]);
      await h.cleanup();
    });

    const topUp = (amount: number, workspaceId = ws, reason = 'Top-up') =>
      h.api.admin.ledger.grant({
        workspaceId,
        wallet: 'image_credits',
        amount,
        source: 'purchase',
        reason,
        idempotencyKey: key('grant'),
      });
    /** Spend exactly `credits` Image Credits in one charge. */
    const spendImage = async (credits: number, workspaceId = ws) => {
      const r = await h.api.usage.charge({
        workspaceId,
        job: imageJobOf(credits),
        idempotencyKey: key('charge'),
      });
      expect(r.credits).toBe(credits);
      return r;
    };
    const imageBalance = async (workspaceId = ws) =>
      (await h.api.wallets.get({ workspaceId, wallet: 'image_credits' })).balance;
    const notes = async (workspaceId = ws): Promise<Notification[]> =>
      h.api.notifications.list({ workspaceId, limit: 200 });
    const kinds = async (workspaceId = ws) =>
      (await notes(workspaceId)).map((n) => `${n.wallet}:${n.kind}:${n.balance}`);

    describe('alerts: one notification per crossing', () => {
      it('low once on crossing the threshold, none below it, empty once at 0; again after a top-up', async () => {
        await topUp(100);
        expect(await kinds()).toEqual([]);
        for (let b = 100; b > 22; b -= 2) await spendImage(2);
        expect(await imageBalance()).toBe(22);
        expect(await kinds()).toEqual([]);
        await spendImage(2); // 20: the threshold itself is low
        const [low] = await notes();
        expect(low).toMatchObject({
          wallet: 'image_credits',
          kind: 'low',
          balance: 20,
          message: 'Image Credits are low: 20 left.',
          readAt: null,
          delivery: 'none',
        });
        for (let b = 20; b > 2; b -= 2) await spendImage(2);
        expect(await kinds()).toEqual(['image_credits:low:20']);
        await spendImage(2);
        expect(await kinds()).toEqual(['image_credits:empty:0', 'image_credits:low:20']);
        expect((await notes())[0]!.message).toBe('Image Credits are empty.');

        // Back above, then down again: a new crossing, a new notification each.
        await topUp(100);
        await spendImage(84); // 16
        await spendImage(16); // 0
        expect(await kinds()).toEqual([
          'image_credits:empty:0',
          'image_credits:low:16',
          'image_credits:empty:0',
          'image_credits:low:20',
        ]);

        // A top-up that stays low, then a spend: no crossing, nothing new.
        await topUp(14); // 14
        await spendImage(2); // 12
        // Straight from active to empty in one spend: one `empty`, no `low`.
        await topUp(38); // 50
        await spendImage(50);
        expect(await kinds()).toEqual([
          'image_credits:empty:0',
          'image_credits:empty:0',
          'image_credits:low:16',
          'image_credits:empty:0',
          'image_credits:low:20',
        ]);
      });

      it('50 concurrent charges across the threshold record exactly one low; 5 more to 0, exactly one empty', async () => {
        await topUp(110);
        const first = await Promise.allSettled(Array.from({ length: 50 }, () => spendImage(2)));
        expect(first.filter((r) => r.status === 'rejected')).toEqual([]);
        expect(await imageBalance()).toBe(10);
        const lows = (await notes()).filter((n) => n.kind === 'low');
        expect(lows).toHaveLength(1);
        // The crossing happened in exactly one charge: the one that left 20 or fewer first.
        expect(lows[0]!.balance).toBeLessThanOrEqual(20);
        expect(lows[0]!.balance).toBeGreaterThan(18);
        const second = await Promise.allSettled(Array.from({ length: 8 }, () => spendImage(2)));
        // 10 credits buy five of the eight; the rest are refused and record nothing.
        expect(second.filter((r) => r.status === 'fulfilled')).toHaveLength(5);
        expect(await imageBalance()).toBe(0);
        expect(await kinds()).toEqual([
          'image_credits:empty:0',
          `image_credits:low:${lows[0]!.balance}`,
        ]);
      });

      it('reserves cross too; a release back above and a new reserve cross again', async () => {
        await topUp(40);
        const hold = await h.api.usage.reserve({
          workspaceId: ws,
          job: icons(9),
          idempotencyKey: key('reserve'),
        }); // 18 held, 22 left
        expect(await kinds()).toEqual([]);
        const hold2 = await h.api.usage.reserve({
          workspaceId: ws,
          job: icons(1),
          idempotencyKey: key('reserve'),
        }); // 20 left
        expect(await kinds()).toEqual(['image_credits:low:20']);
        await h.api.usage.release({
          workspaceId: ws,
          holdId: hold.holdId,
          idempotencyKey: key('release'),
        }); // 38
        await h.api.usage.capture({
          workspaceId: ws,
          holdId: hold2.holdId,
          idempotencyKey: key('capture'),
        }); // capture moves held only
        await h.api.usage.reserve({
          workspaceId: ws,
          job: icons(9),
          idempotencyKey: key('reserve'),
        }); // 20
        expect(await kinds()).toEqual(['image_credits:low:20', 'image_credits:low:20']);
      });

      it('notifications.markRead marks this workspace’s notifications once, and no other workspace’s', async () => {
        await topUp(30);
        await spendImage(10);
        await spendImage(20);
        const other = await h.createWorkspace({ plan: 'pro' });
        await topUp(30, other);
        await spendImage(30, other);
        const [empty, low] = await notes();
        const [otherEmpty] = await notes(other);
        h.clock.advance(MINUTE);
        expect(await h.api.notifications.markRead({ workspaceId: ws, ids: [low!.id] })).toEqual({
          marked: 1,
        });
        expect(await h.api.notifications.markRead({ workspaceId: ws, ids: [low!.id] })).toEqual({
          marked: 0,
        });
        expect(
          await h.api.notifications.markRead({ workspaceId: ws, ids: [otherEmpty!.id] }),
        ).toEqual({ marked: 0 });
        expect(
          (await h.api.notifications.list({ workspaceId: ws, unreadOnly: true, limit: 50 })).map(
            (n) => n.id,
          ),
        ).toEqual([empty!.id]);
        expect((await notes()).find((n) => n.id === low!.id)!.readAt).toBe(h.clock.now());
        expect((await notes(other))[0]!.readAt).toBeNull();
        expect(
          await h.api.notifications.markRead({ workspaceId: ws, ids: [empty!.id, low!.id] }),
        ).toEqual({ marked: 1 });
        expect(
          await h.api.notifications.list({ workspaceId: ws, unreadOnly: true, limit: 50 }),
        ).toEqual([]);
      });
    });

    describe('alert webhooks', () => {
      /** Set a webhook, then cross into low: one pending delivery. */
      async function pendingLow(workspaceId = ws) {
        const { secret } = await h.api.notifications.setWebhook({ workspaceId, url: HOOK_URL });
        expect(secret).toMatch(/^whsec_/);
        await topUp(40, workspaceId);
        await spendImage(20, workspaceId);
        const [n] = await notes(workspaceId);
        expect(n).toMatchObject({ kind: 'low', balance: 20, delivery: 'pending', attempts: 0 });
        return { secret: secret!, notification: n! };
      }
      const deliver = (fetch: FetchLike, extra: { limit?: number; timeoutMs?: number } = {}) =>
        deliverDueAlerts({ store: h.store, now: h.clock.now(), fetch, ...extra });

      it('logs every attempt with its status code; Resend sends again now; a rotated secret signs from then on; a refill resolves the alert', async () => {
        const { notification } = await pendingLow();
        const receiver = fakeReceiver([503, 'network-error', 200]);
        await deliver(receiver.fetch);
        let hook = await h.api.notifications.webhook({ workspaceId: ws });
        expect(hook).toMatchObject({ url: HOOK_URL, hasSecret: true });
        expect(hook.deliveries).toHaveLength(1);
        expect(hook.deliveries[0]).toMatchObject({
          notificationId: notification.id,
          url: HOOK_URL,
          ok: false,
          statusCode: 503,
          error: null,
          message: 'Image Credits are low: 20 left.',
        });
        // Resend: due now (not in 30 s), with a fresh set of retries.
        expect(
          await h.api.notifications.resend({ workspaceId: ws, notificationId: notification.id }),
        ).toEqual({ queued: true });
        expect((await notes())[0]).toMatchObject({ delivery: 'pending', attempts: 0 });
        await deliver(receiver.fetch);
        // A rotated secret signs the next attempt; the old one no longer verifies.
        const { secret } = await h.api.notifications.rotateWebhookSecret({ workspaceId: ws });
        await h.api.notifications.resend({ workspaceId: ws, notificationId: notification.id });
        await deliver(receiver.fetch);
        const last = receiver.calls.at(-1)!;
        expect(
          verifySignature({
            header: last.headers[ALERT_SIGNATURE_HEADER],
            body: last.body,
            secret,
          }),
        ).toBe(Math.floor(h.clock.now() / 1000));
        hook = await h.api.notifications.webhook({ workspaceId: ws });
        expect(hook.deliveries.map((d) => [d.ok, d.statusCode, d.error])).toEqual([
          [true, 200, null],
          [false, null, 'could not connect'],
          [false, 503, null],
        ]);
        // Another workspace's alert, or none set: refused.
        expect(
          (await errorOf(h.api.notifications.resend({ workspaceId: ws, notificationId: 999_999 })))
            ?.reason,
        ).toBe('NOT_FOUND');

        // The alert holds while the wallet stays low, and resolves once it is refilled.
        let [n] = await h.api.notifications.list({ workspaceId: ws, limit: 5 });
        expect(n).toMatchObject({ id: notification.id, resolved: false });
        await topUp(100);
        [n] = await h.api.notifications.list({ workspaceId: ws, limit: 5 });
        expect(n).toMatchObject({ id: notification.id, resolved: true });
        await h.api.notifications.setWebhook({ workspaceId: ws, url: null });
        expect(
          (await errorOf(h.api.notifications.rotateWebhookSecret({ workspaceId: ws })))?.reason,
        ).toBe('NOT_FOUND');
      });

      it('signs each delivery, retries a 500 with backoff, stops after the success, never sends twice', async () => {
        const { secret, notification } = await pendingLow();
        const created = h.clock.now();
        const receiver = fakeReceiver([500, 500, 200]);

        expect(await deliver(receiver.fetch)).toMatchObject({ attempted: 1, retrying: 1 });
        const [first] = receiver.calls;
        expect(first!.url).toBe(HOOK_URL);
        expect(first!.headers['content-type']).toBe('application/json');
        expect(
          verifySignature({
            header: first!.headers[ALERT_SIGNATURE_HEADER],
            body: first!.body,
            secret,
          }),
        ).toBe(Math.floor(created / 1000));
        expect(() =>
          verifySignature({
            header: first!.headers[ALERT_SIGNATURE_HEADER],
            body: first!.body,
            secret: `${secret}x`,
          }),
        ).toThrow('mismatch');
        expect(() =>
          verifySignature({
            header: first!.headers[ALERT_SIGNATURE_HEADER],
            body: first!.body.replace('"balance":20', '"balance":2000'),
            secret,
          }),
        ).toThrow('mismatch');
        expect(JSON.parse(first!.body) as AlertPayload).toEqual({
          id: notification.id,
          workspaceId: ws,
          wallet: 'image_credits',
          kind: 'low',
          balance: 20,
          message: 'Image Credits are low: 20 left.',
          createdAt: created,
        });
        expect((await notes())[0]).toMatchObject({ delivery: 'pending', attempts: 1 });

        // Not due again until 30 s later.
        expect(await deliver(receiver.fetch)).toMatchObject({ attempted: 0 });
        h.clock.advance(ALERT_RETRY_DELAYS_MS[0] - 1);
        expect(await deliver(receiver.fetch)).toMatchObject({ attempted: 0 });
        h.clock.advance(1);
        // The second attempt by the sweeper's pass, like in production.
        const pass = await h.sweep({ fetch: receiver.fetch });
        expect(pass.failures).toEqual([]);
        expect(pass.alerts).toMatchObject({ attempted: 1, retrying: 1 });
        const second = receiver.calls[1]!;
        expect(second.body).toBe(first!.body);
        expect(
          verifySignature({
            header: second.headers[ALERT_SIGNATURE_HEADER],
            body: second.body,
            secret,
          }),
        ).toBe(Math.floor(h.clock.now() / 1000));

        h.clock.advance(ALERT_RETRY_DELAYS_MS[1] - 1);
        expect(await deliver(receiver.fetch)).toMatchObject({ attempted: 0 });
        h.clock.advance(1);
        expect(await deliver(receiver.fetch)).toMatchObject({ attempted: 1, delivered: 1 });
        expect((await notes())[0]).toMatchObject({ delivery: 'delivered', attempts: 3 });

        // Delivered: never again, and spends below the threshold send nothing new.
        await spendImage(2);
        for (const later of [MINUTE, DAY, 30 * DAY]) {
          h.clock.advance(later);
          expect(await deliver(receiver.fetch)).toMatchObject({ attempted: 0 });
          expect((await h.sweep({ fetch: receiver.fetch })).alerts.attempted).toBe(0);
        }
        expect(receiver.calls).toHaveLength(3);
      });

      it('gives up after the last backoff step: network errors, timeouts and 500s count alike', async () => {
        await pendingLow();
        const receiver = fakeReceiver(['network-error', 'hang', 500, 302, 500, 500, 200]);
        const waits = [0, ...ALERT_RETRY_DELAYS_MS];
        for (const [i, wait] of waits.entries()) {
          h.clock.advance(wait);
          const r = await deliver(receiver.fetch, { timeoutMs: 50 });
          expect(r).toMatchObject({
            attempted: 1,
            delivered: 0,
            ...(i < ALERT_RETRY_DELAYS_MS.length ? { retrying: 1 } : { failed: 1 }),
          });
        }
        expect(receiver.calls).toHaveLength(6);
        expect((await notes())[0]).toMatchObject({ delivery: 'failed', attempts: 6 });
        h.clock.advance(30 * DAY);
        expect(await deliver(receiver.fetch)).toMatchObject({ attempted: 0 });
        expect(receiver.calls).toHaveLength(6);
      });

      it('two passes at once send one request; a workspace without a webhook sends nothing', async () => {
        await pendingLow();
        const quiet = await h.createWorkspace({ plan: 'pro' });
        await topUp(30, quiet);
        await spendImage(30, quiet);
        expect((await notes(quiet))[0]).toMatchObject({ kind: 'empty', delivery: 'none' });
        let release: () => void = () => undefined;
        const gate = new Promise<void>((resolve) => (release = resolve));
        const calls: string[] = [];
        const slow: FetchLike = async (url) => {
          calls.push(url);
          await gate;
          return new Response('ok', { status: 200 });
        };
        const both = Promise.all([deliver(slow), deliver(slow), h.sweep({ fetch: slow })]);
        await new Promise((r) => setTimeout(r, 50));
        release();
        const [a, b, pass] = await both;
        expect(a.delivered + b.delivered + pass.alerts.delivered).toBe(1);
        expect(calls).toHaveLength(1);
        expect((await notes())[0]).toMatchObject({ delivery: 'delivered', attempts: 1 });
      });

      it('notifications left pending by a removed webhook do not starve other workspaces’ deliveries', async () => {
        const gone = await h.createWorkspace({ plan: 'pro' });
        await pendingLow(gone);
        await h.api.notifications.setWebhook({ workspaceId: gone, url: null });
        h.clock.advance(MINUTE);
        const { secret } = await pendingLow(ws);
        const receiver = fakeReceiver([200]);
        expect(await deliver(receiver.fetch, { limit: 1 })).toMatchObject({
          attempted: 1,
          delivered: 1,
        });
        expect(receiver.calls).toHaveLength(1);
        expect(JSON.parse(receiver.calls[0]!.body)).toMatchObject({ workspaceId: ws });
        verifySignature({
          header: receiver.calls[0]!.headers[ALERT_SIGNATURE_HEADER],
          body: receiver.calls[0]!.body,
          secret,
        });
        expect((await notes(gone))[0]).toMatchObject({ delivery: 'pending', attempts: 0 });
      });
    });

    describe('admin.ledger.adjust', () => {
      it('adds and removes credits with a reason, idempotently, audited, never below zero', async () => {
        const add = {
          workspaceId: ws,
          wallet: 'image_credits' as const,
          amount: 50,
          reason: 'Goodwill, "spring" credit',
          idempotencyKey: key('adj'),
        };
        const added = await h.api.admin.ledger.adjust(add);
        expect(added).toMatchObject({ wallet: 'image_credits', amount: 50, balance: 50 });
        const removed = await h.api.admin.ledger.adjust({
          ...add,
          amount: -20,
          reason: 'Correction',
          idempotencyKey: key('adj'),
        });
        expect(removed).toMatchObject({
          amount: -20,
          balance: 30,
          lots: [{ lotId: added.lots[0]!.lotId, amount: -20 }],
        });

        // A replay answers the same and changes nothing; the key with another body is refused.
        expect(await h.api.admin.ledger.adjust(add)).toEqual(added);
        expect(await imageBalance()).toBe(30);
        expect((await errorOf(h.api.admin.ledger.adjust({ ...add, amount: 51 }))).reason).toBe(
          'IDEMPOTENCY_CONFLICT',
        );

        // More than the balance: refused, and nothing changes.
        const before = {
          wallets: await h.store.wallets(ws),
          lots: await h.store.lots({ workspaceId: ws }),
          history: (await h.api.usage.history({ workspaceId: ws, limit: 200 })).items,
          audit: (await h.api.admin.audit.list({ workspaceId: ws, limit: 200 })).items,
          notes: await notes(),
        };
        const refused = await errorOf(
          h.api.admin.ledger.adjust({ ...add, amount: -31, idempotencyKey: key('adj') }),
        );
        expect(refused).toMatchObject({
          code: 'PRECONDITION_FAILED',
          reason: 'INSUFFICIENT_CREDITS',
          details: { wallet: 'image_credits', needed: 31, available: 30 },
        });
        expect({
          wallets: await h.store.wallets(ws),
          lots: await h.store.lots({ workspaceId: ws }),
          history: (await h.api.usage.history({ workspaceId: ws, limit: 200 })).items,
          audit: (await h.api.admin.audit.list({ workspaceId: ws, limit: 200 })).items,
          notes: await notes(),
        }).toEqual(before);

        // Held credits are not available to take: 20 held, 10 available.
        expect(
          (
            await h.api.usage.reserve({
              workspaceId: ws,
              job: imageJobOf(20),
              idempotencyKey: key('reserve'),
            })
          ).credits,
        ).toBe(20);
        expect(
          (
            await errorOf(
              h.api.admin.ledger.adjust({ ...add, amount: -11, idempotencyKey: key('adj') }),
            )
          ).reason,
        ).toBe('INSUFFICIENT_CREDITS');
        expect(
          await h.api.admin.ledger.adjust({
            ...add,
            amount: -10,
            reason: 'Down to zero',
            idempotencyKey: key('adj'),
          }),
        ).toMatchObject({ balance: 0 });
        expect((await h.api.wallets.get({ workspaceId: ws, wallet: 'image_credits' })).held).toBe(
          20,
        );
        // An adjustment that empties the wallet is a crossing like any other.
        expect((await notes())[0]).toMatchObject({ kind: 'empty', balance: 0 });

        const audit = await h.api.admin.audit.list({
          workspaceId: ws,
          action: 'ledger.adjust',
          limit: 50,
        });
        expect(audit.items.map((a) => [a.reason, a.actor, a.target])).toEqual([
          ['Down to zero', SERVICE_CALLER.id, `wallet:${ws}/image_credits`],
          ['Correction', SERVICE_CALLER.id, `wallet:${ws}/image_credits`],
          ['Goodwill, "spring" credit', SERVICE_CALLER.id, `wallet:${ws}/image_credits`],
        ]);
        const entries = (
          await h.api.usage.history({
            workspaceId: ws,
            wallet: 'image_credits',
            types: ['adjustment'],
            limit: 50,
          })
        ).items;
        expect(entries.map((e) => [e.amount, e.description, e.actor])).toEqual([
          [-10, 'Down to zero', SERVICE_CALLER.id],
          [-20, 'Correction', SERVICE_CALLER.id],
          [50, 'Goodwill, "spring" credit', SERVICE_CALLER.id],
        ]);
      });
    });

    describe('usage reporting', () => {
      const at = (day: number, hour = 0, ms = 0) => Date.UTC(2028, 2, day, hour) + ms;

      it('summary sums spend per wallet per UTC day and per Monday week, captured amounts only', async () => {
        expect(new Date(at(6)).getUTCDay()).toBe(1); // Monday 6 March 2028
        await topUp(500);
        const spendAt = async (t: number, fn: () => Promise<unknown>) => {
          h.clock.set(t);
          await fn();
        };
        await spendAt(at(6, 10), () => spendImage(4));
        await spendAt(at(6, 11), () =>
          h.api.usage.charge({ workspaceId: ws, job: ai(1000), idempotencyKey: key('c') }),
        );
        await spendAt(at(7) - 1, () => spendImage(6));
        await spendAt(at(7), () => spendImage(2));
        await spendAt(at(12, 23), () =>
          h.api.usage.charge({ workspaceId: ws, job: ai(500), idempotencyKey: key('c') }),
        );
        await spendAt(at(13), () => spendImage(8));
        // A hold of 20 captured at 12 just after midnight on the 13th; a hold released: only the 12 spent count.
        h.clock.set(at(12, 23, 30 * MINUTE));
        const hold = await h.api.usage.reserve({
          workspaceId: ws,
          job: imageJobOf(20),
          idempotencyKey: key('r'),
        });
        const dropped = await h.api.usage.reserve({
          workspaceId: ws,
          job: icons(5),
          idempotencyKey: key('r'),
        });
        h.clock.set(at(13, 0, 1));
        await h.api.usage.capture({
          workspaceId: ws,
          holdId: hold.holdId,
          credits: 12,
          idempotencyKey: key('cap'),
        });
        await h.api.usage.release({
          workspaceId: ws,
          holdId: dropped.holdId,
          idempotencyKey: key('rel'),
        });
        await spendAt(at(15, 8), () =>
          h.api.usage.charge({ workspaceId: ws, job: ai(250), idempotencyKey: key('c') }),
        );
        h.clock.set(at(20));

        const day = await h.api.usage.summary({
          workspaceId: ws,
          bucket: 'day',
          from: at(6),
          to: at(16),
        });
        expect(day.series).toEqual([
          { start: at(6), wallet: 'ai_tokens', spent: 1000 },
          { start: at(6), wallet: 'image_credits', spent: 10 },
          { start: at(7), wallet: 'image_credits', spent: 2 },
          { start: at(12), wallet: 'ai_tokens', spent: 500 },
          { start: at(13), wallet: 'image_credits', spent: 20 },
          { start: at(15), wallet: 'ai_tokens', spent: 250 },
        ]);
        const week = await h.api.usage.summary({
          workspaceId: ws,
          bucket: 'week',
          from: at(6),
          to: at(20),
        });
        expect(week.series).toEqual([
          { start: at(6), wallet: 'ai_tokens', spent: 1500 },
          { start: at(6), wallet: 'image_credits', spent: 12 },
          { start: at(13), wallet: 'ai_tokens', spent: 250 },
          { start: at(13), wallet: 'image_credits', spent: 20 },
        ]);
        const imageWeeks = await h.api.usage.summary({
          workspaceId: ws,
          wallet: 'image_credits',
          bucket: 'week',
          from: at(6),
          to: at(20),
        });
        expect(imageWeeks.series.map((s) => s.spent)).toEqual([12, 20]);
        // `from` inclusive, `to` exclusive; the default window is the last 30 days.
        const window = await h.api.usage.summary({
          workspaceId: ws,
          bucket: 'day',
          from: at(7),
          to: at(13),
        });
        expect(window.series).toEqual([
          { start: at(7), wallet: 'image_credits', spent: 2 },
          { start: at(12), wallet: 'ai_tokens', spent: 500 },
        ]);
        const recent = await h.api.usage.summary({ workspaceId: ws });
        expect(recent).toMatchObject({ bucket: 'day', from: at(20) - 30 * DAY, to: at(20) });
        expect(recent.series.reduce((s, r) => s + r.spent, 0)).toBe(1000 + 10 + 2 + 500 + 20 + 250);
        // The sums agree with the ledger's spend entries.
        const spends = (
          await h.api.usage.history({ workspaceId: ws, types: ['spend'], limit: 200 })
        ).items;
        expect(spends.reduce((s, e) => s - e.amount, 0)).toBe(1000 + 10 + 2 + 500 + 20 + 250);
        expect(
          (await errorOf(h.api.usage.summary({ workspaceId: ws, from: at(10), to: at(9) }))).reason,
        ).toBe('VALIDATION');
      });

      it('the history CSV: a header and one row per entry, under the same filters as history', async () => {
        await topUp(1000, ws, 'Spring top-up, "thanks"');
        for (let i = 0; i < 210; i++) {
          h.clock.advance(MINUTE);
          await spendImage(2);
        }
        h.clock.advance(MINUTE);
        await h.api.usage.charge({ workspaceId: ws, job: ai(123), idempotencyKey: key('c') });
        const hold = await h.api.usage.reserve({
          workspaceId: ws,
          job: icons(3),
          idempotencyKey: key('r'),
        });
        await h.api.usage.release({
          workspaceId: ws,
          holdId: hold.holdId,
          idempotencyKey: key('rel'),
        });
        const mid = Date.UTC(2028, 2, 6, 9) + 100 * MINUTE;

        const allPages = async (filters: object) => {
          const out: LedgerEntry[] = [];
          let cursor: string | undefined;
          do {
            const page = await h.api.usage.history({
              workspaceId: ws,
              ...filters,
              cursor,
              limit: 200,
            });
            out.push(...page.items);
            cursor = page.nextCursor ?? undefined;
          } while (cursor);
          return out;
        };
        // The export the server streams at GET /export/history.csv (issue 12), read whole.
        const historyCsv = async (filter: HistoryFilter) => {
          let csv = '';
          for await (const chunk of historyCsvStream({ store: h.store, filter }))
            csv += String(chunk);
          return { csv, rows: parseCsv(csv).length - 1 };
        };
        const filterSets = [
          {},
          { wallet: 'image_credits' as const },
          { types: ['spend' as const] },
          { wallet: 'ai_tokens' as const, types: ['grant' as const, 'spend' as const] },
          { from: mid, to: mid + 30 * MINUTE },
          { wallet: 'image_credits' as const, types: ['hold' as const, 'return' as const] },
        ];
        for (const filters of filterSets) {
          const entries = await allPages(filters);
          const out = await historyCsv({ workspaceId: ws, ...filters });
          const [header, ...rows] = parseCsv(out.csv);
          expect(header).toEqual([
            'time',
            'wallet',
            'type',
            'amount',
            'balance_after',
            'held_after',
            'job',
            'order',
            'rule_version',
            'actor',
            'description',
            'lots',
          ]);
          expect(out.rows).toBe(entries.length);
          expect(rows).toEqual(
            entries.map((e) => [
              new Date(e.createdAt).toISOString(),
              e.wallet,
              e.type,
              String(e.amount),
              String(e.balanceAfter),
              String(e.heldAfter),
              e.jobId ?? '',
              e.orderId ?? '',
              e.ruleVersion === null ? '' : String(e.ruleVersion),
              e.actor,
              e.description,
              e.lots.map((l) => `${l.lotId}:${l.amount}`).join(' '),
            ]),
          );
        }
        // The whole history spans more than one page of 200.
        expect((await historyCsv({ workspaceId: ws })).rows).toBeGreaterThan(210);
        // Commas and quotes in a description survive the round trip.
        const purchases = await historyCsv({ workspaceId: ws, types: ['purchase'] });
        expect(purchases).toMatchObject({ rows: 1 });
        expect(parseCsv(purchases.csv)[1]![10]).toBe('Spring top-up, "thanks"');
      });
    });
  });
}
