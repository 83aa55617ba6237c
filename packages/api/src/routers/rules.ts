import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError } from '@credits/domain';
import {
  EXAMPLE_WORKSPACE_DEFAULT,
  compileRuleDocument,
  diffRuleDocuments,
  jobSchema,
  preflight,
  ruleDocumentSchema,
  simulate,
  validateRuleDocument,
  type PriceOutcome,
  type RuleDocument,
  type SimulationJob,
  type ValidationError,
  type ValidationResult,
  type WorkspaceFacts,
} from '@credits/rules';
import { adminProcedure, type Context } from '../trpc.js';
import { reasonTextSchema } from '../schemas.js';

/**
 * The rule lifecycle (SPEC 5, issue 3 item 6): draft → validate → simulate → publish →
 * rollback, admin only. Mounted as `admin.rules`.
 *
 * One rule for documents: every procedure that takes a rule document, except `validate`,
 * refuses one that fails the safety preflight or the schema with RULES_INVALID and the JSON
 * path of each problem, so nothing hostile is stored, compiled or walked. Failing examples are
 * allowed in a draft (saved, quoted, simulated, diffed, and reported back); only `publish`
 * also requires every example to pass.
 */

/** Procedures without arguments still refuse unknown ones. */
const noInput = z.object({}).strict().optional();

const versionSchema = z.number().int().min(1).max(1_000_000_000);

/**
 * An untrusted rule document. It stays `unknown` here: validateRuleDocument walks it first
 * (iteratively, bounded), so its errors carry JSON paths and nothing recursive ever sees a
 * hostile value.
 */
const documentSchema = z.unknown();

/** Workspace facts a draft quote or a given simulation job is priced with. */
const workspaceFactsSchema = z
  .object({
    plan: z.string().min(1).max(100),
    features: z.array(z.string().min(1).max(100)).max(100).default([]),
    trialRemaining: z.number().int().min(0).max(1_000_000_000).default(0),
  })
  .strict();

const givenJobSchema = z
  .object({
    id: z.string().min(1).max(100).optional(),
    workspaceId: z.string().min(1).max(100).optional(),
    job: jobSchema,
    workspace: workspaceFactsSchema.optional(),
  })
  .strict();

/** Jobs `simulate` reads from the store at most (default), and at most when asked. */
export const SIMULATE_JOBS_DEFAULT = 10_000;
export const SIMULATE_JOBS_MAX = 100_000;
const DAY_MS = 86_400_000;

/** A document that passed preflight and schema; `validation` says whether it is publishable. */
type Checked =
  | { structural: true; doc: RuleDocument; validation: ValidationResult }
  | { structural: false; errors: ValidationError[] };

/**
 * Preflight + schema + examples, telling structural problems (refused everywhere) from failing
 * examples (allowed in a draft). Cheap on hostile input: the preflight stops at the first
 * excess of size or depth before anything else runs.
 */
export function checkRuleDocument(input: unknown): Checked {
  if (typeof input !== 'object' || input === null || Array.isArray(input)) {
    return {
      structural: false,
      errors: [{ path: '', message: 'a rule document is a JSON object' }],
    };
  }
  const validation = validateRuleDocument(input);
  if (validation.ok) return { structural: true, doc: validation.doc, validation };
  if (preflight(input).length > 0) return { structural: false, errors: validation.errors };
  // Preflight passed, so the value is bounded plain JSON: safe to copy and parse again.
  const parsed = ruleDocumentSchema.safeParse(JSON.parse(JSON.stringify(input)));
  if (!parsed.success) return { structural: false, errors: validation.errors };
  return { structural: true, doc: parsed.data, validation };
}

function rulesInvalid(
  errors: readonly ValidationError[],
  what = 'The rule document is invalid',
): CreditsError {
  const first = errors[0];
  const summary = first ? ` (first: ${first.path || '(root)'}: ${first.message})` : '';
  return new CreditsError(
    'RULES_INVALID',
    `${what}: ${errors.length} problem${errors.length === 1 ? '' : 's'}${summary}.`,
    { errors },
  );
}

/** A document that may be saved, quoted and simulated, or RULES_INVALID. */
function structuralOrThrow(input: unknown): Extract<Checked, { structural: true }> {
  const checked = checkRuleDocument(input);
  if (!checked.structural) throw rulesInvalid(checked.errors);
  return checked;
}

const errorsOf = (v: ValidationResult): ValidationError[] => (v.ok ? [] : v.errors);

/** A price as the lifecycle API shows it; the version is reported beside it. */
type OutcomeView =
  | {
      ok: true;
      credits: number;
      breakdown: { label: string; type: string; credits: number }[];
      trialApplies: boolean;
    }
  | { ok: false; reason: 'FEATURE_UNAVAILABLE' | 'COMING_SOON'; message: string };

function view(o: PriceOutcome): OutcomeView {
  return o.ok
    ? { ok: true, credits: o.credits, breakdown: o.breakdown, trialApplies: o.trialApplies }
    : { ok: false, reason: o.reason, message: o.message };
}

/**
 * Use a version this process just published. The active version is always the highest one
 * (every publish and rollback appends), so an older activation never replaces a newer one
 * when two publishes finish out of order.
 */
async function activateIfNewer(
  ctx: Context,
  row: { version: number; document: unknown },
): Promise<void> {
  const current = await ctx.rules.current();
  if (row.version > current.version) ctx.rules.activate(row.version, row.document);
}

async function activeRow(ctx: Context) {
  const row = await ctx.store.activeRules();
  if (!row) throw new Error('no active rule set: run migrate and seed');
  return row;
}

async function versionRow(ctx: Context, version: number) {
  const row = await ctx.store.getRuleVersion(version);
  if (!row) throw new CreditsError('NOT_FOUND', `No rule version ${version}.`, { version });
  return row;
}

/** Recorded jobs as simulation input; jobs whose payload no longer parses are skipped. */
export function simulationJobsFromRecords(
  records: readonly {
    id: string;
    workspaceId: string;
    job: unknown;
    plan: string;
    features: readonly string[];
  }[],
): { jobs: SimulationJob[]; skipped: number } {
  const jobs: SimulationJob[] = [];
  let skipped = 0;
  for (const r of records) {
    const job = jobSchema.safeParse(r.job);
    if (!job.success) {
      skipped++;
      continue;
    }
    // The trial balance at the time is not recorded: replayed jobs see none.
    jobs.push({
      id: r.id,
      workspaceId: r.workspaceId,
      job: job.data,
      workspace: { plan: r.plan, features: r.features, trialRemaining: 0 },
    });
  }
  return { jobs, skipped };
}

export const rulesRouter = {
  /** The active rule set: the version every new quote uses. */
  active: adminProcedure.input(noInput).query(async ({ ctx }) => {
    const row = await activeRow(ctx);
    return {
      version: row.version,
      document: row.document,
      createdAt: row.createdAt,
      createdBy: row.createdBy,
      reason: row.reason,
      rolledBackFrom: row.rolledBackFrom,
    };
  }),

  /** Every published version, newest first, without documents. */
  versions: adminProcedure.input(noInput).query(async ({ ctx }) => {
    const [rows, active] = await Promise.all([ctx.store.ruleVersions(), ctx.store.activeRules()]);
    return {
      activeVersion: active?.version ?? null,
      items: rows.map((r) => ({ ...r, active: r.version === active?.version })),
    };
  }),

  /** One published version, with its document. */
  get: adminProcedure
    .input(z.object({ version: versionSchema }).strict())
    .query(async ({ ctx, input }) => {
      const row = await versionRow(ctx, input.version);
      return { ...row };
    }),

  /** The saved draft, or the active document when no draft has been saved. */
  draft: adminProcedure.input(noInput).query(async ({ ctx }) => {
    const [draft, active] = await Promise.all([ctx.store.ruleDraft(), activeRow(ctx)]);
    if (draft) {
      return {
        source: 'draft' as const,
        document: draft.document,
        updatedAt: draft.updatedAt,
        updatedBy: draft.updatedBy,
        activeVersion: active.version,
      };
    }
    return {
      source: 'active' as const,
      document: active.document,
      updatedAt: null,
      updatedBy: null,
      activeVersion: active.version,
    };
  }),

  /**
   * Save the shared draft. Refused (RULES_INVALID, nothing stored) unless it passes the
   * safety preflight and the schema; failing examples are saved and reported in `validation`.
   */
  saveDraft: adminProcedure
    .input(z.object({ document: documentSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const checked = structuralOrThrow(input.document);
      const now = ctx.now();
      await ctx.store.saveRuleDraft({ document: checked.doc, updatedBy: ctx.caller.id, now });
      return {
        savedAt: now,
        updatedBy: ctx.caller.id,
        validation: { ok: checked.validation.ok, errors: errorsOf(checked.validation) },
      };
    }),

  /** Everything publish would check: safety, schema and examples. Never throws for a bad document. */
  validate: adminProcedure
    .input(z.object({ document: documentSchema }).strict())
    .query(({ input }) => {
      const checked = checkRuleDocument(input.document);
      if (!checked.structural) return { ok: false, errors: checked.errors };
      return { ok: checked.validation.ok, errors: errorsOf(checked.validation) };
    }),

  /** Price one job under a draft, beside its price under the active set. */
  quoteDraft: adminProcedure
    .input(
      z
        .object({
          document: documentSchema,
          job: jobSchema,
          workspace: workspaceFactsSchema.optional(),
        })
        .strict(),
    )
    .query(async ({ ctx, input }) => {
      const checked = structuralOrThrow(input.document);
      const facts: WorkspaceFacts = input.workspace ?? EXAMPLE_WORKSPACE_DEFAULT;
      const active = await ctx.rules.current();
      const draft = compileRuleDocument(checked.doc, 0);
      return {
        draft: view(draft.price(input.job, facts)),
        active: { version: active.version, ...view(active.pricer.price(input.job, facts)) },
        publishable: checked.validation.ok,
      };
    }),

  /**
   * Replay jobs under the draft and the active set: the jobs created in the last `days` days
   * (from the store, newest first, at most `limit`), or the `jobs` given.
   */
  simulate: adminProcedure
    .input(
      z
        .object({
          document: documentSchema,
          days: z.number().int().min(1).max(90).optional(),
          jobs: z.array(givenJobSchema).min(1).max(10_000).optional(),
          limit: z.number().int().min(1).max(SIMULATE_JOBS_MAX).optional(),
          changedLimit: z.number().int().min(0).max(1_000).optional(),
        })
        .strict()
        .refine((v) => v.jobs === undefined || (v.days === undefined && v.limit === undefined), {
          message: 'Give jobs, or days and limit, not both.',
          path: ['jobs'],
        }),
    )
    .query(async ({ ctx, input }) => {
      const checked = structuralOrThrow(input.document);
      const active = await ctx.rules.current();
      const draft = compileRuleDocument(checked.doc, 0);
      let jobs: SimulationJob[];
      let skipped = 0;
      let truncated = false;
      let since: number | null = null;
      if (input.jobs) {
        jobs = input.jobs.map((j, i) => ({
          id: j.id ?? `job-${i}`,
          workspaceId: j.workspaceId ?? 'given',
          job: j.job,
          workspace: j.workspace ?? EXAMPLE_WORKSPACE_DEFAULT,
        }));
      } else {
        const days = input.days ?? 7;
        const limit = input.limit ?? SIMULATE_JOBS_DEFAULT;
        since = ctx.now() - days * DAY_MS;
        // One more than asked tells a full window from a truncated one.
        const records = await ctx.store.recentJobs({ since, limit: limit + 1 });
        truncated = records.length > limit;
        ({ jobs, skipped } = simulationJobsFromRecords(records.slice(0, limit)));
      }
      const report = simulate({
        jobs,
        draft,
        active: active.pricer,
        changedLimit: input.changedLimit,
      });
      return {
        activeVersion: active.version,
        source: input.jobs ? ('given' as const) : ('recent' as const),
        since,
        skipped,
        truncated,
        publishable: checked.validation.ok,
        ...report,
      };
    }),

  /**
   * Publish a document as a new immutable version and activate it. Refused with RULES_INVALID
   * (and nothing stored) unless it is valid and every example passes. Audited `rules.publish`.
   */
  publish: adminProcedure
    .input(
      z
        .object({
          document: documentSchema,
          reason: reasonTextSchema,
          /**
           * The live version the publisher reviewed the changes against. When another
           * version went live since (a publish or a rollback), the publish is refused, so
           * nobody undoes a rollback without having seen what it replaces.
           */
          baseVersion: versionSchema.optional(),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const checked = checkRuleDocument(input.document);
      if (!checked.structural) throw rulesInvalid(checked.errors);
      if (!checked.validation.ok) {
        throw rulesInvalid(checked.validation.errors, 'The rule document cannot be published');
      }
      const before = await ctx.store.activeRules();
      if (input.baseVersion !== undefined && before?.version !== input.baseVersion) {
        throw new CreditsError(
          'VALIDATION',
          `Version ${before?.version ?? '(none)'} is live now, not version ${input.baseVersion}: compare your document with it before publishing.`,
          { field: 'baseVersion', activeVersion: before?.version ?? null },
        );
      }
      const row = await ctx.store.publishRules({
        document: checked.doc,
        createdBy: ctx.caller.id,
        reason: input.reason,
        now: ctx.now(),
        // Checked again inside the write: two publishers who reviewed the same version cannot
        // both publish; the second is refused as above.
        ...(input.baseVersion !== undefined && { expectedActiveVersion: input.baseVersion }),
        audit: {
          actor: ctx.caller.id,
          action: 'rules.publish',
          target: 'rules',
          reason: input.reason,
          before: { activeVersion: before?.version ?? null },
        },
      });
      await activateIfNewer(ctx, row);
      return {
        version: row.version,
        createdAt: row.createdAt,
        createdBy: row.createdBy,
        reason: row.reason,
        rolledBackFrom: row.rolledBackFrom,
      };
    }),

  /**
   * Re-activate an older version's document as a NEW version (`rolledBackFrom` names it);
   * history is never rewritten. Audited `rules.rollback`.
   */
  rollback: adminProcedure
    .input(z.object({ version: versionSchema, reason: reasonTextSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const [target, before] = await Promise.all([versionRow(ctx, input.version), activeRow(ctx)]);
      if (target.version === before.version) {
        throw new CreditsError('VALIDATION', `Version ${target.version} is already active.`, {
          field: 'version',
        });
      }
      // Today's validator has the last word: a version it would refuse is not re-activated.
      const valid = validateRuleDocument(target.document);
      if (!valid.ok)
        throw rulesInvalid(valid.errors, `Version ${target.version} no longer validates`);
      const row = await ctx.store.publishRules({
        document: valid.doc,
        createdBy: ctx.caller.id,
        reason: input.reason,
        rolledBackFrom: target.version,
        now: ctx.now(),
        audit: {
          actor: ctx.caller.id,
          action: 'rules.rollback',
          target: 'rules',
          reason: input.reason,
          before: { activeVersion: before.version },
        },
      });
      await activateIfNewer(ctx, row);
      return {
        version: row.version,
        createdAt: row.createdAt,
        createdBy: row.createdBy,
        reason: row.reason,
        rolledBackFrom: row.rolledBackFrom,
      };
    }),

  /**
   * What changed between two versions (`from` → `to`), or from a version to a draft
   * (`from` → `document`). `from` defaults to the active version.
   */
  diff: adminProcedure
    .input(
      z
        .object({
          from: versionSchema.optional(),
          to: versionSchema.optional(),
          document: documentSchema.optional(),
        })
        .strict()
        .refine((v) => (v.to === undefined) !== (v.document === undefined), {
          message: 'Give either a version to compare with (to) or a draft document (document).',
          path: ['to'],
        }),
    )
    .query(async ({ ctx, input }) => {
      const from =
        input.from === undefined ? await activeRow(ctx) : await versionRow(ctx, input.from);
      let after: unknown;
      if (input.to !== undefined) after = (await versionRow(ctx, input.to)).document;
      else after = structuralOrThrow(input.document).doc;
      const changes = diffRuleDocuments(from.document, after);
      return { from: from.version, to: input.to ?? ('draft' as const), changes };
    }),
} satisfies TRPCRouterRecord;
