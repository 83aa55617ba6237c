import { randomUUID } from 'node:crypto';
import { afterEach, describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import { CreditsError, WALLET_KINDS } from '@credits/domain';
import {
  EXAMPLE_WORKSPACE_DEFAULT,
  compileRuleDocument,
  defaultRuleDocument,
  validateRuleDocument,
  type Job,
  type RuleDocument,
  type ValidationError,
  type WorkspaceFacts,
} from '@credits/rules';
import { DIALECTS, type DialectFixture } from '@credits/store/testing';
import type { Store } from '@credits/store';
import { createCaller } from '../src/root.js';
import { createCallerFactory, createTRPCRouter, type Caller, type Context } from '../src/trpc.js';
import { RulesService } from '../src/rules-service.js';
import { workspaceServices } from '../src/services.js';
import { rulesRouter } from '../src/routers/rules.js';

/**
 * The rule lifecycle API (issue 3 item 6) and its must-show: publish, then rollback, then
 * publish again under concurrent quotes; no quote ever mixes two versions and each answer
 * names the version it used. root.ts does not mount `rulesRouter` yet, so it is tested on a
 * small local router; quotes, holds and captures go through the real app router.
 */

const rulesOnlyRouter = createTRPCRouter({ rules: rulesRouter });
const createRulesCaller = createCallerFactory(rulesOnlyRouter);

const T0 = Date.UTC(2026, 0, 15, 12, 0, 0);
const DAY = 86_400_000;
const ADMIN: Caller = { kind: 'service', id: 'test-admin', scopes: ['admin'] };
/** Usage calls come from a service, as in production. */
const SERVICE: Caller = {
  kind: 'service',
  id: 'test-service',
  scopes: ['usage:write', 'wallets:read', 'admin'],
};
/** The facts usage.quote prices with for the test workspace (no trial lot: made by the store). */
const PRO_FACTS: WorkspaceFacts = { plan: 'pro', features: ['video_edit'], trialRemaining: 0 };

const video = (durationSec: number, type: 'standard' | 'premium' | 'edit' = 'standard'): Job => ({
  kind: 'video',
  type,
  durationSec,
  resolution: '720p',
});

/** Every option at once, so a quote mixing two versions' rules could not hide. */
const LOADED_JOB: Job = {
  kind: 'video',
  type: 'standard',
  durationSec: 8,
  resolution: '720p',
  options: { audio: true, fps: 60, referenceImages: 2 },
};

/**
 * Explicit: the root config's timeouts do not reach the projects, and ~2,000 quotes on
 * PostgreSQL take several seconds on a busy machine (vitest's default is 5 s).
 */
const TEST_TIMEOUT_MS = 120_000;

let keyCounter = 0;
const key = (prefix = 'k') => `${prefix}-${++keyCounter}-${randomUUID()}`;

// ------------------------------------------------------------------------- documents

type Mutable = RuleDocument;

/** A copy of the default document (detached and unfrozen). */
const baseDocument = (): Mutable => structuredClone(defaultRuleDocument) as Mutable;

/** Set one parameter of a named video pricing rule. */
function setVideoParam(doc: Mutable, ruleName: string, param: string, value: unknown): Mutable {
  const rule = doc.pricing.video.find((r) => r.name === ruleName);
  if (!rule) throw new Error(`no video rule named ${ruleName}`);
  (rule.event.params as Record<string, unknown>)[param] = value;
  return doc;
}

/** Re-expect every example at the document's own prices, so the document is publishable. */
function rebaseExamples(doc: Mutable): Mutable {
  const pricer = compileRuleDocument(doc, 0);
  doc.examples = doc.examples.map((ex) => {
    const out = pricer.price(ex.job, {
      ...EXAMPLE_WORKSPACE_DEFAULT,
      ...ex.workspace,
    } as WorkspaceFacts);
    if (!out.ok) return { ...ex, expect: { unavailable: out.reason } };
    const withTrial = 'credits' in ex.expect && ex.expect.trialApplies !== undefined;
    return {
      ...ex,
      expect: withTrial
        ? { credits: out.credits, trialApplies: out.trialApplies }
        : { credits: out.credits },
    };
  });
  return doc;
}

const STANDARD_720P = 'Standard Video, 720p per second';

/** Standard Video 720p at `perUnit` credits a second, examples updated: publishable. */
const standard720pAt = (perUnit: number): Mutable =>
  rebaseExamples(setVideoParam(baseDocument(), STANDARD_720P, 'perUnit', perUnit));

/** Several prices changed at once (rate, audio, fps multiplier, reference images). */
function repriced(p: {
  standard720p: number;
  audio: number;
  fps60: number;
  referenceImage: number;
}): Mutable {
  const doc = baseDocument();
  setVideoParam(doc, STANDARD_720P, 'perUnit', p.standard720p);
  setVideoParam(doc, 'Audio track per second', 'perUnit', p.audio);
  setVideoParam(doc, '60 fps', 'factor', p.fps60);
  setVideoParam(doc, 'Reference images', 'perUnit', p.referenceImage);
  return rebaseExamples(doc);
}

/** Hostile or broken documents, each with one path its refusal must name. */
function hostileDocuments(): { name: string; document: unknown; path: string }[] {
  const cases: { name: string; document: unknown; path: string }[] = [];
  const add = (name: string, path: string, mutate: (d: Record<string, any>) => void) => {
    const d = JSON.parse(JSON.stringify(defaultRuleDocument)) as Record<string, any>;
    mutate(d);
    cases.push({ name, path, document: d });
  };
  add(
    'a __proto__ key (as JSON.parse makes it)',
    'pricing.video[0].event.params.__proto__',
    (d) => {
      d.pricing.video[0].event.params = JSON.parse(
        '{"__proto__":{"polluted":true},"perUnit":6,"unit":"second","label":"x"}',
      );
    },
  );
  add('a constructor key', 'constructor', (d) => {
    d['constructor'] = { prototype: { polluted: true } };
  });
  add('a JSONPath script', 'pricing.video[1].conditions.all[0].path', (d) => {
    d.pricing.video[1].conditions.all[0].path =
      '$..[?(@.constructor.constructor("return process")().exit())]';
  });
  add('10,000-deep nesting', `description${'[0]'.repeat(31)}`, (d) => {
    let deep: unknown = 1;
    for (let i = 0; i < 10_000; i++) deep = [deep];
    d.description = deep;
  });
  add('5 MB', '', (d) => {
    d.description = 'x'.repeat(5 * 1024 * 1024);
  });
  add('an unknown operator', 'pricing.video[1].conditions.all[0].operator', (d) => {
    d.pricing.video[1].conditions.all[0].operator = 'regex';
  });
  add('a NaN rate', 'pricing.video[1].event.params.perUnit', (d) => {
    d.pricing.video[1].event.params.perUnit = Number.NaN;
  });
  add('a negative rate', 'pricing.video[1].event.params.perUnit', (d) => {
    d.pricing.video[1].event.params.perUnit = -10;
  });
  add('an unknown event type', 'pricing.video[1].event.type', (d) => {
    d.pricing.video[1].event.type = 'free';
  });
  cases.push({
    name: 'JSON text instead of an object',
    document: JSON.stringify(defaultRuleDocument),
    path: '',
  });
  cases.push({ name: 'an array', document: [defaultRuleDocument], path: '' });
  cases.push({ name: 'null', document: null, path: '' });
  return cases;
}

// ------------------------------------------------------------------------- harness

interface Harness {
  store: Store;
  rules: RulesService;
  clock: { now(): number; advance(ms: number): void };
  admin: ReturnType<typeof createRulesCaller>['rules'];
  usage: ReturnType<typeof createCaller>['usage'];
  workspaceId: string;
  ctx(caller: Caller | null): Context;
  cleanup(): Promise<void>;
}

async function makeHarness(
  dialect: DialectFixture,
  opts: { refreshMs?: number } = {},
): Promise<Harness> {
  const { store, cleanup } = await dialect.make();
  let t = T0;
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const rules =
    opts.refreshMs === undefined
      ? new RulesService(store)
      : new RulesService(store, { refreshMs: opts.refreshMs, clock: Date.now });
  await rules.seed(clock.now());
  const services = workspaceServices({ store, clock: clock.now });
  const ctx = (caller: Caller | null): Context => ({
    store,
    rules,
    ...services,
    now: clock.now,
    caller,
    config: { holdTtlMs: 3_600_000 },
  });
  const workspace = await store.createWorkspace({
    name: 'Lifecycle',
    plan: 'pro',
    features: ['video_edit'],
    billingAnchorDay: 1,
    wallets: WALLET_KINDS,
    now: clock.now(),
    idempotencyKey: key('ws'),
    requestHash: 'x',
  });
  return {
    store,
    rules,
    clock,
    admin: createRulesCaller(ctx(ADMIN)).rules,
    usage: createCaller(ctx(SERVICE)).usage,
    workspaceId: workspace.id,
    ctx,
    cleanup,
  };
}

async function topUp(
  h: Harness,
  wallet: 'video_credits' | 'image_credits',
  amount: number,
): Promise<void> {
  await h.store.grant({
    workspaceId: h.workspaceId,
    wallet,
    amount,
    source: 'purchase',
    description: 'Test top-up',
    actor: 'test',
    now: h.clock.now(),
    idempotencyKey: key('grant'),
    requestHash: 'x',
  });
}

interface Failure {
  code: string;
  reason: string | null;
  errors: ValidationError[];
  message: string;
  details: Record<string, unknown>;
}

/** How a call failed: tRPC code, the CreditsError reason and its validation errors. */
async function failure(call: Promise<unknown>): Promise<Failure> {
  try {
    await call;
  } catch (e) {
    if (!(e instanceof TRPCError)) throw e;
    const cause = e.cause instanceof CreditsError ? e.cause : null;
    return {
      code: e.code,
      reason: cause?.reason ?? null,
      errors: (cause?.details.errors as ValidationError[] | undefined) ?? [],
      message: e.message,
      details: cause?.details ?? {},
    };
  }
  throw new Error('expected the call to fail, but it succeeded');
}

/** What the store holds about rules: versions, active version, draft and rule audit rows. */
async function rulesState(h: Harness) {
  const audit = await h.store.accounts.auditLog({ limit: 100 });
  return {
    versions: await h.store.ruleVersions(),
    active: (await h.store.activeRules())?.version ?? null,
    draft: await h.store.ruleDraft(),
    audit: audit.items.filter((a) => a.action.startsWith('rules.')),
  };
}

// ------------------------------------------------------------------------- tests

for (const dialect of DIALECTS) {
  describe.skipIf(dialect.skip !== null)(
    `rule lifecycle on ${dialect.name}`,
    { timeout: TEST_TIMEOUT_MS },
    () => {
      let h: Harness | undefined;
      const open = async (opts?: { refreshMs?: number }) => {
        h = await makeHarness(dialect, opts);
        return h;
      };
      afterEach(async () => {
        if (!h) return;
        const report = await h.store.verify();
        expect(report.violations).toEqual([]);
        expect(report.ok).toBe(true);
        await h.cleanup();
        h = undefined;
      }, TEST_TIMEOUT_MS);

      it('has the default document active as version 1; the draft starts as the active document', async () => {
        const h = await open();
        const active = await h.admin.active();
        expect(active).toMatchObject({
          version: 1,
          createdBy: 'system',
          reason: 'Default rule set',
          rolledBackFrom: null,
        });
        expect(active.document).toEqual(defaultRuleDocument);
        const versions = await h.admin.versions();
        expect(versions).toEqual({
          activeVersion: 1,
          items: [
            {
              version: 1,
              createdAt: T0,
              createdBy: 'system',
              reason: 'Default rule set',
              rolledBackFrom: null,
              active: true,
            },
          ],
        });
        expect((await h.admin.get({ version: 1 })).document).toEqual(defaultRuleDocument);
        expect(await h.admin.draft()).toEqual({
          source: 'active',
          document: active.document,
          updatedAt: null,
          updatedBy: null,
          activeVersion: 1,
        });
        expect(await h.admin.validate({ document: defaultRuleDocument })).toEqual({
          ok: true,
          errors: [],
        });
        expect(await failure(h.admin.get({ version: 2 }))).toMatchObject({
          code: 'NOT_FOUND',
          reason: 'NOT_FOUND',
        });
        const q = await h.usage.quote({ workspaceId: h.workspaceId, job: video(5) });
        expect(q).toMatchObject({ credits: 50, ruleVersion: 1 });
      });

      it('admin only, strict inputs', async () => {
        const h = await open();
        const noAdmin = createRulesCaller(
          h.ctx({ kind: 'service', id: 'svc', scopes: ['usage:write'] }),
        ).rules;
        expect(await failure(noAdmin.active())).toMatchObject({ code: 'FORBIDDEN' });
        expect(
          await failure(noAdmin.publish({ document: standard720pAt(20), reason: 'x' })),
        ).toMatchObject({ code: 'FORBIDDEN' });
        const anonymous = createRulesCaller(h.ctx(null)).rules;
        expect(await failure(anonymous.versions())).toMatchObject({ code: 'UNAUTHORIZED' });
        // Unknown keys, bad versions and empty reasons are input errors.
        expect(await failure(h.admin.get({ version: 1, extra: true } as never))).toMatchObject({
          code: 'BAD_REQUEST',
        });
        expect(await failure(h.admin.get({ version: 0 }))).toMatchObject({ code: 'BAD_REQUEST' });
        expect(await failure(h.admin.active({ all: true } as never))).toMatchObject({
          code: 'BAD_REQUEST',
        });
        expect(
          await failure(h.admin.publish({ document: standard720pAt(20), reason: '  ' })),
        ).toMatchObject({ code: 'BAD_REQUEST' });
        expect(
          await failure(h.admin.simulate({ document: defaultRuleDocument, days: 91 })),
        ).toMatchObject({ code: 'BAD_REQUEST' });
        expect(
          await failure(
            h.admin.simulate({ document: defaultRuleDocument, days: 7, jobs: [{ job: video(5) }] }),
          ),
        ).toMatchObject({ code: 'BAD_REQUEST' });
        expect(await failure(h.admin.diff({ from: 1 }))).toMatchObject({ code: 'BAD_REQUEST' });
        expect((await rulesState(h)).versions).toHaveLength(1);
      });

      it('publishes an edited price as version 2: quotes use the new price and name version 2; audited', async () => {
        const h = await open();
        h.clock.advance(1000);
        const published = await h.admin.publish({
          document: standard720pAt(20),
          reason: 'Standard 720p to 20/s',
        });
        expect(published).toEqual({
          version: 2,
          createdAt: T0 + 1000,
          createdBy: 'test-admin',
          reason: 'Standard 720p to 20/s',
          rolledBackFrom: null,
        });
        const q = await h.usage.quote({ workspaceId: h.workspaceId, job: video(5) });
        expect(q).toMatchObject({ credits: 100, ruleVersion: 2 });
        expect(q.breakdown).toEqual([
          { label: 'Standard Video, 720p: 5 s × 20', type: 'rate', credits: 100 },
        ]);

        const active = await h.admin.active();
        expect(active).toMatchObject({
          version: 2,
          createdBy: 'test-admin',
          reason: 'Standard 720p to 20/s',
        });
        expect(active.document).toEqual(standard720pAt(20));
        const versions = await h.admin.versions();
        expect(versions.activeVersion).toBe(2);
        expect(versions.items.map((v) => [v.version, v.active])).toEqual([
          [2, true],
          [1, false],
        ]);
        // Immutable: version 1 still holds the default document.
        expect((await h.admin.get({ version: 1 })).document).toEqual(defaultRuleDocument);

        const { audit } = await rulesState(h);
        expect(audit).toHaveLength(1);
        expect(audit[0]).toMatchObject({
          actor: 'test-admin',
          action: 'rules.publish',
          target: 'rules:2',
          reason: 'Standard 720p to 20/s',
          before: { activeVersion: 1 },
          after: { version: 2, rolledBackFrom: null },
        });
      });

      it('refuses hostile and invalid documents with paths, and stores nothing', async () => {
        const h = await open();
        const before = await rulesState(h);
        for (const c of hostileDocuments()) {
          const v = await h.admin.validate({ document: c.document });
          expect(v.ok, c.name).toBe(false);
          expect(
            v.errors.map((e) => e.path),
            c.name,
          ).toContain(c.path);

          for (const call of [
            h.admin.publish({ document: c.document, reason: `try ${c.name}` }),
            h.admin.saveDraft({ document: c.document }),
            h.admin.quoteDraft({ document: c.document, job: video(5) }),
            h.admin.simulate({ document: c.document }),
            h.admin.diff({ from: 1, document: c.document }),
          ]) {
            const f = await failure(call);
            expect(f, c.name).toMatchObject({ code: 'BAD_REQUEST', reason: 'RULES_INVALID' });
            expect(
              f.errors.map((e) => e.path),
              c.name,
            ).toContain(c.path);
          }
        }
        // Nothing stored: no version, no draft, no audit row; quotes unchanged.
        expect(await rulesState(h)).toEqual(before);
        expect(before.draft).toBeNull();
        expect(await h.usage.quote({ workspaceId: h.workspaceId, job: video(5) })).toMatchObject({
          credits: 50,
          ruleVersion: 1,
        });
        // Nothing polluted.
        expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      });

      it('failing examples block publish; a draft may hold them and is quoted and simulated', async () => {
        const h = await open();
        // 20/s for Standard 720p without updating the examples that expect 10/s.
        const draft = setVideoParam(baseDocument(), STANDARD_720P, 'perUnit', 20);
        const v = await h.admin.validate({ document: draft });
        expect(v.ok).toBe(false);
        expect(v.errors.length).toBeGreaterThan(0);
        expect(v.errors.every((e) => /^examples\[\d+\]$/.test(e.path))).toBe(true);
        expect(v.errors[0]).toEqual({
          path: 'examples[0]',
          message: 'example "Trial video: 5 s Standard 720p": expected 50, got 100',
        });

        const f = await failure(
          h.admin.publish({ document: draft, reason: 'forgot the examples' }),
        );
        expect(f).toMatchObject({ code: 'BAD_REQUEST', reason: 'RULES_INVALID' });
        expect(f.errors).toEqual(v.errors);
        expect((await rulesState(h)).versions).toHaveLength(1);
        expect((await rulesState(h)).audit).toEqual([]);

        h.clock.advance(5000);
        const saved = await h.admin.saveDraft({ document: draft });
        expect(saved).toEqual({
          savedAt: T0 + 5000,
          updatedBy: 'test-admin',
          validation: { ok: false, errors: v.errors },
        });
        const loaded = await h.admin.draft();
        expect(loaded).toMatchObject({
          source: 'draft',
          updatedAt: T0 + 5000,
          updatedBy: 'test-admin',
          activeVersion: 1,
        });
        expect(loaded.document).toEqual(draft);

        const q = await h.admin.quoteDraft({ document: loaded.document, job: video(5) });
        expect(q).toEqual({
          draft: {
            ok: true,
            credits: 100,
            trialApplies: true,
            breakdown: [{ label: 'Standard Video, 720p: 5 s × 20', type: 'rate', credits: 100 }],
          },
          active: {
            version: 1,
            ok: true,
            credits: 50,
            trialApplies: true,
            breakdown: [{ label: 'Standard Video, 720p: 5 s × 10', type: 'rate', credits: 50 }],
          },
          publishable: false,
        });
        // Workspace facts matter: Video Edit without the feature is not offered, under either set.
        const edit = await h.admin.quoteDraft({
          document: draft,
          job: video(5, 'edit'),
          workspace: { plan: 'free', features: [], trialRemaining: 0 },
        });
        expect(edit.draft).toEqual({
          ok: false,
          reason: 'FEATURE_UNAVAILABLE',
          message: 'Video Edit is not available on this plan.',
        });
        expect(edit.active).toMatchObject({ version: 1, ok: false, reason: 'FEATURE_UNAVAILABLE' });
        const withFeature = await h.admin.quoteDraft({
          document: draft,
          job: video(5, 'edit'),
          workspace: { plan: 'pro', features: ['video_edit'] },
        });
        expect(withFeature.draft).toMatchObject({ ok: true, credits: 40 });

        // Fixing the examples makes the same edit publishable.
        const fixed = await h.admin.saveDraft({ document: standard720pAt(20) });
        expect(fixed.validation).toEqual({ ok: true, errors: [] });
        expect(
          (await h.admin.publish({ document: (await h.admin.draft()).document, reason: 'fixed' }))
            .version,
        ).toBe(2);
      });

      it('rolls back to version 1 as a new version 3 holding version 1’s document', async () => {
        const h = await open();
        await h.admin.publish({ document: standard720pAt(20), reason: 'raise' });
        h.clock.advance(2000);
        const rolled = await h.admin.rollback({ version: 1, reason: 'customers complained' });
        expect(rolled).toEqual({
          version: 3,
          createdAt: T0 + 2000,
          createdBy: 'test-admin',
          reason: 'customers complained',
          rolledBackFrom: 1,
        });
        const [v1, v3] = await Promise.all([
          h.admin.get({ version: 1 }),
          h.admin.get({ version: 3 }),
        ]);
        expect(v3.document).toEqual(v1.document);
        expect(v3.rolledBackFrom).toBe(1);
        expect(await h.admin.diff({ from: 1, to: 3 })).toEqual({ from: 1, to: 3, changes: [] });
        expect((await h.admin.active()).version).toBe(3);
        expect(await h.usage.quote({ workspaceId: h.workspaceId, job: video(5) })).toMatchObject({
          credits: 50,
          ruleVersion: 3,
        });
        expect(
          (await h.admin.versions()).items.map((v) => [v.version, v.rolledBackFrom, v.active]),
        ).toEqual([
          [3, 1, true],
          [2, null, false],
          [1, null, false],
        ]);
        const { audit } = await rulesState(h);
        expect(audit.find((a) => a.action === 'rules.rollback')).toMatchObject({
          actor: 'test-admin',
          target: 'rules:3',
          reason: 'customers complained',
          before: { activeVersion: 2 },
          after: { version: 3, rolledBackFrom: 1 },
        });

        // Rolling back to the active version or to one that does not exist is refused.
        expect(await failure(h.admin.rollback({ version: 3, reason: 'again' }))).toMatchObject({
          code: 'BAD_REQUEST',
          reason: 'VALIDATION',
        });
        expect(await failure(h.admin.rollback({ version: 9, reason: 'nope' }))).toMatchObject({
          code: 'NOT_FOUND',
          reason: 'NOT_FOUND',
        });
        expect((await h.admin.versions()).items).toHaveLength(3);
      });

      it('a publish based on a version that is no longer live is refused: a rollback is never undone unseen', async () => {
        const h = await open();
        await h.admin.publish({ document: standard720pAt(20), reason: 'raise' });
        // An editor opened on v2 with an edit; meanwhile someone rolls back to v1 (now v3).
        const edit = standard720pAt(30);
        expect((await h.admin.diff({ document: edit })).from).toBe(2);
        await h.admin.rollback({ version: 1, reason: 'customers complained' });
        const refused = await failure(
          h.admin.publish({ document: edit, reason: 'from v2', baseVersion: 2 }),
        );
        expect(refused).toMatchObject({
          code: 'BAD_REQUEST',
          reason: 'VALIDATION',
          details: { field: 'baseVersion', activeVersion: 3 },
        });
        expect((await h.admin.versions()).items).toHaveLength(3);
        expect((await h.admin.active()).version).toBe(3);
        // Compared with the live version it shows the differences, and then publishes.
        const againstLive = await h.admin.diff({ document: edit });
        expect(againstLive.from).toBe(3);
        expect(againstLive.changes.length).toBeGreaterThan(0);
        expect(
          (await h.admin.publish({ document: edit, reason: 'seen v3', baseVersion: 3 })).version,
        ).toBe(4);
      });

      it('two publishers who reviewed the same live version publish at once: exactly one wins, the other is refused (checked inside the write)', async () => {
        const h = await open();
        const live = (await h.admin.active()).version;
        const outcomes = await Promise.all(
          [25, 35, 45, 55].map((n, i) =>
            h.admin
              .publish({ document: standard720pAt(n), reason: `editor ${i}`, baseVersion: live })
              .then(
                () => 'won' as const,
                (e: unknown) => failure(Promise.reject(e as Error)),
              ),
          ),
        );
        expect(outcomes.filter((o) => o === 'won')).toHaveLength(1);
        for (const o of outcomes.filter((x) => x !== 'won')) {
          expect(o).toMatchObject({
            reason: 'VALIDATION',
            details: { field: 'baseVersion', activeVersion: live + 1 },
          });
        }
        expect((await h.admin.versions()).items).toHaveLength(live + 1);
        expect((await h.admin.active()).version).toBe(live + 1);
      });

      it('diffs two versions, or a version and a draft, by JSON path', async () => {
        const h = await open();
        await h.admin.publish({ document: standard720pAt(20), reason: 'raise' });
        const { changes, from, to } = await h.admin.diff({ from: 1, to: 2 });
        expect([from, to]).toEqual([1, 2]);
        const rate = changes.find((c) => c.path.startsWith('pricing.'));
        expect(rate).toEqual({
          path: 'pricing.video[1].event.params.perUnit',
          before: 10,
          after: 20,
        });
        // Besides the rate, only the examples' expectations moved.
        expect(
          changes
            .filter((c) => c !== rate)
            .every((c) => /^examples\[\d+\]\.expect\.credits$/.test(c.path)),
        ).toBe(true);
        expect(changes.find((c) => c.path === 'examples[0].expect.credits')).toEqual({
          path: 'examples[0].expect.credits',
          before: 50,
          after: 100,
        });

        // Against a draft; `from` defaults to the active version (2).
        const draft = setVideoParam(
          standard720pAt(20),
          'Premium Video, 720p per second',
          'perUnit',
          30,
        );
        expect(await h.admin.diff({ document: draft })).toEqual({
          from: 2,
          to: 'draft',
          changes: [{ path: 'pricing.video[5].event.params.perUnit', before: 25, after: 30 }],
        });
        expect((await h.admin.diff({ from: 2, to: 1 })).changes).toContainEqual({
          path: 'pricing.video[1].event.params.perUnit',
          before: 20,
          after: 10,
        });
        expect(await failure(h.admin.diff({ from: 1, to: 7 }))).toMatchObject({
          code: 'NOT_FOUND',
        });
      });

      it('simulates recent jobs, or given jobs, under the draft and the active set', async () => {
        const h = await open();
        await topUp(h, 'video_credits', 1000);
        await topUp(h, 'image_credits', 100);
        const reserve = (job: Job) =>
          h.usage.reserve({ workspaceId: h.workspaceId, job, idempotencyKey: key('r') });
        const a = await reserve(video(5));
        const b = await reserve(video(3));
        await reserve(video(4, 'premium'));
        await reserve({ kind: 'image', type: 'logo', count: 2 });
        h.clock.advance(DAY);

        const draft = standard720pAt(20);
        const report = await h.admin.simulate({ document: draft });
        expect(report).toMatchObject({
          activeVersion: 1,
          source: 'recent',
          since: T0 + DAY - 7 * DAY,
          skipped: 0,
          truncated: false,
          publishable: true,
          jobsRepriced: 4,
          changedCount: 2,
          creditsDelta: 50 + 30,
          deltaByKind: { video: 80, image: 0 },
          topWorkspaces: [{ workspaceId: h.workspaceId, delta: 80 }],
        });
        expect([...report.changed].sort((x, y) => x.id.localeCompare(y.id))).toEqual(
          [
            { id: a.holdId, workspaceId: h.workspaceId, kind: 'video', before: 50, after: 100 },
            { id: b.holdId, workspaceId: h.workspaceId, kind: 'video', before: 30, after: 60 },
          ].sort((x, y) => x.id.localeCompare(y.id)),
        );
        // `limit` caps the jobs read (newest first) and says so.
        expect(await h.admin.simulate({ document: draft, limit: 2 })).toMatchObject({
          jobsRepriced: 2,
          truncated: true,
        });
        expect(await h.admin.simulate({ document: draft, limit: 4 })).toMatchObject({
          jobsRepriced: 4,
          truncated: false,
        });
        expect(await h.admin.simulate({ document: draft, changedLimit: 1 })).toMatchObject({
          changedCount: 2,
        });
        expect((await h.admin.simulate({ document: draft, changedLimit: 1 })).changed).toHaveLength(
          1,
        );

        // The window: 8 days later, the last 7 days hold none of these jobs; the last 9 do.
        h.clock.advance(7 * DAY);
        expect(await h.admin.simulate({ document: draft, days: 7 })).toMatchObject({
          jobsRepriced: 0,
          changedCount: 0,
          creditsDelta: 0,
        });
        expect(await h.admin.simulate({ document: draft, days: 9 })).toMatchObject({
          jobsRepriced: 4,
          creditsDelta: 80,
        });

        // Given jobs, with workspace facts where they matter.
        const given = await h.admin.simulate({
          document: draft,
          jobs: [
            { id: 'j1', workspaceId: 'w1', job: video(5) },
            {
              id: 'j2',
              workspaceId: 'w2',
              job: video(5, 'edit'),
              workspace: { plan: 'free', features: [], trialRemaining: 0 },
            },
            {
              id: 'j3',
              workspaceId: 'w2',
              job: video(5, 'edit'),
              workspace: { plan: 'pro', features: ['video_edit'] },
            },
            { job: { kind: 'ai', tokens: 1200 } },
          ],
        });
        expect(given).toMatchObject({
          source: 'given',
          since: null,
          jobsRepriced: 4,
          changedCount: 1,
          changed: [{ id: 'j1', workspaceId: 'w1', kind: 'video', before: 50, after: 100 }],
          creditsDelta: 50,
          deltaByKind: { video: 50, ai: 0 },
          topWorkspaces: [{ workspaceId: 'w1', delta: 50 }],
        });
        // Simulating changes nothing.
        expect((await rulesState(h)).versions).toHaveLength(1);
      });

      it('a hold reserved under version 1 captures at version 1’s price after version 2 is published', async () => {
        const h = await open();
        await topUp(h, 'video_credits', 500);
        const job = video(10);
        const hold = await h.usage.reserve({
          workspaceId: h.workspaceId,
          job,
          idempotencyKey: key('r'),
        });
        expect(hold).toMatchObject({ credits: 100, ruleVersion: 1 });

        await h.admin.publish({ document: standard720pAt(20), reason: 'raise' });
        expect(await h.usage.quote({ workspaceId: h.workspaceId, job })).toMatchObject({
          credits: 200,
          ruleVersion: 2,
        });

        const done = await h.usage.capture({
          workspaceId: h.workspaceId,
          holdId: hold.holdId,
          actual: job,
          idempotencyKey: key('c'),
        });
        expect(done).toMatchObject({ captured: 100, returned: 0 });
        const spend = (await h.usage.history({ workspaceId: h.workspaceId, types: ['spend'] }))
          .items[0];
        expect(spend).toMatchObject({ amount: -100, ruleVersion: 1 });
        const jobs = await h.usage.jobs({ workspaceId: h.workspaceId });
        expect(jobs.items.find((j) => j.id === hold.holdId)).toMatchObject({
          captured: 100,
          ruleVersion: 1,
        });
        // A new hold uses version 2.
        const next = await h.usage.reserve({
          workspaceId: h.workspaceId,
          job,
          idempotencyKey: key('r'),
        });
        expect(next).toMatchObject({ credits: 200, ruleVersion: 2 });
      });

      // Must show: publish, then rollback, then publish again, under concurrent quotes.
      for (const mode of [
        { name: 'activated in this process', refreshMs: undefined },
        { name: 'read from the store on every quote, as another process would', refreshMs: 0 },
      ]) {
        it(`publish → rollback → publish under ~2,000 concurrent quotes: no quote mixes versions (${mode.name})`, async () => {
          const h = await open({ refreshMs: mode.refreshMs });
          const v2Doc = repriced({ standard720p: 12, audio: 3, fps60: 1.5, referenceImage: 5 });
          const v4Doc = repriced({ standard720p: 11, audio: 2, fps60: 1.3, referenceImage: 6 });

          const QUOTES = 2_000;
          const WORKERS = 24;
          const results: { ruleVersion: number; credits: number; breakdown: unknown }[] = [];
          let started = 0;
          let target = QUOTES;
          let adminDone = false;
          const waitFor = async (n: number) => {
            while (results.length < n) await new Promise((r) => setTimeout(r, 0));
          };

          const worker = async () => {
            while (started < target || !adminDone) {
              started++;
              const q = await h.usage.quote({ workspaceId: h.workspaceId, job: LOADED_JOB });
              results.push({
                ruleVersion: q.ruleVersion,
                credits: q.credits,
                breakdown: q.breakdown,
              });
            }
          };
          const adminSequence = async () => {
            try {
              await waitFor(400);
              const p1 = await h.admin.publish({ document: v2Doc, reason: 'reprice' });
              await waitFor(results.length + 400);
              const rb = await h.admin.rollback({ version: 1, reason: 'roll back' });
              await waitFor(results.length + 400);
              const p2 = await h.admin.publish({ document: v4Doc, reason: 'reprice again' });
              // Let a few hundred quotes run under the last version too.
              target = Math.max(QUOTES, started + 300);
              return [p1.version, rb.version, p2.version];
            } finally {
              adminDone = true;
            }
          };
          const [published] = await Promise.all([
            adminSequence(),
            ...Array.from({ length: WORKERS }, worker),
          ]);
          expect(published).toEqual([2, 3, 4]);
          expect(results.length).toBeGreaterThanOrEqual(QUOTES);

          // The price of LOADED_JOB under each stored version, priced afresh from its document.
          const expected = new Map<number, { credits: number; breakdown: unknown }>();
          for (const v of [1, 2, 3, 4]) {
            const row = await h.store.getRuleVersion(v);
            const valid = validateRuleDocument(row?.document);
            if (!valid.ok) throw new Error(`version ${v} does not validate`);
            const out = compileRuleDocument(valid.doc, v).price(LOADED_JOB, PRO_FACTS);
            if (!out.ok) throw new Error(`version ${v} does not price the job`);
            expected.set(v, { credits: out.credits, breakdown: out.breakdown });
          }
          // Four prices, v3 being v1's: 8 s × rate + 8 s × audio, × fps factor, + 2 × reference.
          expect([1, 2, 3, 4].map((v) => expected.get(v)?.credits)).toEqual([128, 190, 128, 148]);

          // Every answer names a version, and its price and breakdown are exactly that version's.
          const mismatched = results.filter((r) => {
            const e = expected.get(r.ruleVersion);
            return (
              !e ||
              e.credits !== r.credits ||
              JSON.stringify(e.breakdown) !== JSON.stringify(r.breakdown)
            );
          });
          expect(mismatched).toEqual([]);
          // The quotes really ran across the whole sequence.
          const seen = new Set(results.map((r) => r.ruleVersion));
          expect([...seen].sort()).toEqual([1, 2, 3, 4]);
          // After the sequence, the last version answers.
          expect(
            await h.usage.quote({ workspaceId: h.workspaceId, job: LOADED_JOB }),
          ).toMatchObject({
            credits: 148,
            ruleVersion: 4,
          });
          const { audit } = await rulesState(h);
          expect(audit.map((a) => [a.action, a.target]).sort()).toEqual([
            ['rules.publish', 'rules:2'],
            ['rules.publish', 'rules:4'],
            ['rules.rollback', 'rules:3'],
          ]);
        });
      }
    },
  );
}
