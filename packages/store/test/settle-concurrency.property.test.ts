/**
 * Settling holds while other money moves, all at once (SPEC 6): captures, releases, duplicate
 * settlements of one hold under other keys, retries under the same key, and new reserves and
 * charges on the same wallets go in together. On SQLite they share pipelined groups; on
 * PostgreSQL they race as transactions. Whatever the interleaving, each hold settles exactly
 * once, every key answers the same each time, and every wallet ends where running the
 * winners one at a time would leave it.
 */
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { DIALECTS, type TestStore } from './dialects.js';
import type { ReserveResult } from '../src/types.js';
import { grant, key, outcome, priced, workspace, write } from './fixtures.js';

const HOUR = 3_600_000;

type Request =
  | { kind: 'capture'; hold: number; part: number }
  | { kind: 'release'; hold: number }
  | { kind: 'retry'; of: number }
  | { kind: 'reserve' | 'charge'; credits: number };

const request: fc.Arbitrary<Request> = fc.oneof(
  fc.record({
    kind: fc.constant('capture' as const),
    hold: fc.nat({ max: 7 }),
    part: fc.integer({ min: 0, max: 100 }),
  }),
  fc.record({ kind: fc.constant('release' as const), hold: fc.nat({ max: 7 }) }),
  fc.record({ kind: fc.constant('retry' as const), of: fc.nat({ max: 40 }) }),
  fc.record({
    kind: fc.constantFrom('reserve' as const, 'charge' as const),
    credits: fc.integer({ min: 1, max: 30 }),
  }),
);

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(`settling under concurrency on ${dialect.name}`, () => {
    let t: TestStore;
    beforeEach(async () => {
      t = await dialect.make();
    });
    afterEach(async () => {
      expect((await t.store.verify()).violations).toEqual([]);
      await t.cleanup();
    });

    it('property: each hold settles once, keys replay, wallets end as if one at a time', async () => {
      await fc.assert(
        fc.asyncProperty(
          fc.array(fc.integer({ min: 1, max: 40 }), { minLength: 1, maxLength: 8 }),
          fc.array(request, { minLength: 1, maxLength: 40 }),
          fc.integer({ min: 0, max: 200 }),
          async (holdSizes, requests, spare) => {
            const ws = await workspace(t.store);
            const granted = holdSizes.reduce((a, b) => a + b, 0) + spare;
            // Two lots, so returns land in more than one.
            await grant(t.store, ws.id, Math.ceil(granted / 2));
            if (granted > 1)
              await grant(t.store, ws.id, Math.floor(granted / 2), {
                expiresAt: Date.UTC(2030, 0),
              });
            const holds: ReserveResult[] = [];
            for (const credits of holdSizes) {
              holds.push(
                await t.store.reserve({ ...write(ws.id), priced: priced(credits), ttlMs: HOUR }),
              );
            }
            // Each request under its key; a retry reuses an earlier request's key and body.
            const keys: string[] = [];
            const bodies: Request[] = [];
            requests.forEach((r, i) => {
              const earlier = r.kind === 'retry' && r.of < i ? r.of : null;
              keys.push(earlier === null ? key() : keys[earlier]!);
              // A retry with nothing earlier to repeat is a release of its own.
              if (earlier !== null) bodies.push(bodies[earlier]!);
              else bodies.push(r.kind === 'retry' ? { kind: 'release', hold: r.of } : r);
            });
            const sent = bodies.map((r, i) => {
              const base = { ...write(ws.id), idempotencyKey: keys[i]! };
              if (r.kind === 'capture' || r.kind === 'release') {
                const hold = holds[r.hold % holds.length]!;
                if (r.kind === 'release')
                  return outcome(t.store.release({ ...base, holdId: hold.holdId }));
                const credits = Math.floor((hold.credits * r.part) / 100);
                return outcome(t.store.capture({ ...base, holdId: hold.holdId, credits }));
              }
              if (r.kind === 'reserve')
                return outcome(
                  t.store.reserve({ ...base, priced: priced(r.credits), ttlMs: HOUR }),
                );
              if (r.kind === 'charge')
                return outcome(t.store.charge({ ...base, priced: priced(r.credits) }));
              throw new Error('a retry resolves to the request it repeats');
            });
            const results = await Promise.all(sent);

            // Refusals are only the expected ones.
            for (const r of results) {
              if (!r.ok)
                expect(['HOLD_SETTLED', 'INSUFFICIENT_CREDITS', 'IDEMPOTENCY_CONFLICT']).toContain(
                  r.reason,
                );
            }
            // A key answers the same every time it succeeds.
            const byKey = new Map<string, string>();
            results.forEach((r, i) => {
              if (!r.ok) return;
              const seen = byKey.get(keys[i]!);
              if (seen !== undefined) expect(JSON.stringify(r.value)).toBe(seen);
              else byKey.set(keys[i]!, JSON.stringify(r.value));
            });
            // Each hold settled at most once: one distinct winning key per hold.
            const winners = new Map<string, Set<string>>();
            let captured = 0;
            let charged = 0;
            let newlyHeld = 0;
            for (const [k, answer] of byKey) {
              const a = JSON.parse(answer) as {
                holdId?: string;
                status?: string;
                captured?: number;
                credits?: number;
                jobId?: string;
              };
              if (a.status !== undefined) {
                const set = winners.get(a.holdId!) ?? new Set<string>();
                set.add(k);
                winners.set(a.holdId!, set);
                captured += a.captured!;
              } else if (a.jobId !== undefined) charged += a.credits!;
              else newlyHeld += a.credits!;
            }
            for (const set of winners.values()) expect(set.size).toBe(1);
            // The wallet: what is still held is the open holds; the rest of what left was spent.
            const openOld = holds
              .filter((h) => !winners.has(h.holdId))
              .reduce((a, h) => a + h.credits, 0);
            const w = (await t.store.wallets(ws.id)).find((x) => x.kind === 'video_credits')!;
            expect(w.held).toBe(openOld + newlyHeld);
            expect(w.available + w.held).toBe(granted - captured - charged);
            expect(w.available).toBeGreaterThanOrEqual(0);
            // A settled hold answers HOLD_SETTLED to a new key afterwards.
            const settled = holds.find((h) => winners.has(h.holdId));
            if (settled) {
              const late = await outcome(
                t.store.release({ ...write(ws.id), holdId: settled.holdId }),
              );
              expect(late).toMatchObject({ ok: false, reason: 'HOLD_SETTLED' });
            }
          },
        ),
        { numRuns: dialect.name === 'postgres' ? 15 : 30 },
      );
    });
  });
}
