import type { TRPCRouterRecord } from '@trpc/server';
import { z } from 'zod';
import { CreditsError, autoTopUpTerms, type Pack, type WalletKind } from '@credits/domain';
import { workspaceProcedure, type Context } from '../trpc.js';
import { idSchema, walletSchema, workspaceIdSchema } from '../schemas.js';
import { loadWorkspace } from '../workspace-cache.js';
import { limitCycle, subjectLabels } from '../spend-limits.js';
import { whenProviderFails } from '../errors.js';

/** At most $100,000 a cycle (in cents). */
const MAX_CAP_CENTS = 10_000_000;

const termsInput = {
  workspaceId: workspaceIdSchema,
  wallet: walletSchema,
  packId: idSchema,
  /** Top up when the available balance falls below this many credits. */
  threshold: z.number().int().min(0).max(1_000_000_000),
  /** At most this much money per billing cycle, in the pack's currency's smallest unit. */
  monthlyCapCents: z.number().int().min(1).max(MAX_CAP_CENTS),
};

function walletLabel(ctx: Context, wallet: WalletKind): string {
  return ctx.store.catalogSnapshot().find((c) => c.kind === wallet)?.label ?? wallet;
}

/** The pack on sale for this wallet, and the terms text an owner agrees to. */
async function termsFor(
  ctx: Context,
  input: { wallet: WalletKind; packId: string; threshold: number; monthlyCapCents: number },
): Promise<{ pack: Pack; terms: string }> {
  const pack = (await ctx.store.billing.packs({ wallet: input.wallet })).find(
    (p) => p.id === input.packId,
  );
  if (!pack)
    throw new CreditsError('NOT_FOUND', 'No such pack on sale for this wallet.', {
      packId: input.packId,
    });
  if (input.monthlyCapCents < pack.priceCents)
    throw new CreditsError('VALIDATION', 'The monthly cap must allow at least one pack.', {
      field: 'monthlyCapCents',
    });
  const terms = autoTopUpTerms({
    walletLabel: walletLabel(ctx, input.wallet),
    threshold: input.threshold,
    packCredits: pack.credits,
    priceCents: pack.priceCents,
    currency: pack.currency,
    monthlyCapCents: input.monthlyCapCents,
  });
  return { pack, terms };
}

function requirePayments(ctx: Context) {
  if (!ctx.payments)
    throw new CreditsError(
      'FEATURE_UNAVAILABLE',
      'Auto top-up is not available on this server (no payment provider is configured).',
    );
  return ctx.payments;
}

export const autoTopUpRouter = {
  /**
   * Auto top-up per purchasable wallet: the consent it runs under (who, when, the terms word
   * for word, pack, threshold, cap), whether it is on, failures in a row, and this cycle's
   * purchases against the cap; and the saved payment method. Members read; owners edit.
   */
  get: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .query(async ({ ctx, input }) => {
      const workspace = await loadWorkspace(ctx.store, input.workspaceId);
      const cycle = limitCycle(ctx, workspace);
      const provider = ctx.payments?.provider ?? null;
      const [packs, settings, attempts, method, label] = await Promise.all([
        ctx.store.billing.packs({}),
        ctx.store.autoTopUp.settings({ workspaceId: workspace.id }),
        ctx.store.autoTopUp.attempts({
          workspaceId: workspace.id,
          cycleKey: cycle.key,
          limit: 200,
        }),
        provider
          ? ctx.store.autoTopUp.paymentMethod({ workspaceId: workspace.id, provider })
          : Promise.resolve(null),
        subjectLabels(ctx, workspace.id),
      ]);
      const wallets = [...new Set(packs.map((p) => p.wallet))].map((wallet) => {
        const setting = settings.find((s) => s.wallet === wallet) ?? null;
        const mine = attempts.filter((a) => a.wallet === wallet);
        return {
          wallet,
          label: walletLabel(ctx, wallet),
          packs: packs.filter((p) => p.wallet === wallet),
          setting: setting && {
            enabled: setting.enabled,
            disabledReason: setting.disabledReason,
            consecutiveFailures: setting.consecutiveFailures,
            updatedAt: setting.updatedAt,
            consent: {
              ...setting.consent,
              givenByLabel: setting.consent.givenBy.startsWith('user:')
                ? label('member', setting.consent.givenBy.slice('user:'.length))
                : setting.consent.givenBy,
            },
          },
          cycle: {
            spentCents: mine
              .filter((a) => a.status === 'pending' || a.status === 'paid')
              .reduce((s, a) => s + a.priceCents, 0),
            inFlight: mine.some((a) => a.status === 'pending'),
            attempts: mine.map((a) => ({
              orderId: a.orderId,
              status: a.status,
              priceCents: a.priceCents,
              createdAt: a.createdAt,
            })),
          },
        };
      });
      return {
        provider,
        cycle: { key: cycle.key, start: cycle.start, resetsAt: cycle.end },
        paymentMethod: method && { label: method.label, createdAt: method.createdAt },
        wallets,
      };
    }),

  /** The terms an owner would agree to for these settings, to show before they turn it on. */
  terms: workspaceProcedure('read')
    .input(z.object(termsInput).strict())
    .query(async ({ ctx, input }) => ({ terms: (await termsFor(ctx, input)).terms })),

  /**
   * Owners turn auto top-up on: the terms they were shown come back in `acceptedTerms` and
   * must be the terms for these settings, word for word; the consent is stored with them.
   * Needs a saved payment method. Audited.
   */
  enable: workspaceProcedure('owner')
    .input(z.object({ ...termsInput, acceptedTerms: z.string().min(1).max(2000) }).strict())
    .mutation(async ({ ctx, input }) => {
      const payments = requirePayments(ctx);
      await loadWorkspace(ctx.store, input.workspaceId);
      const { pack, terms } = await termsFor(ctx, input);
      if (input.acceptedTerms !== terms)
        throw new CreditsError(
          'VALIDATION',
          'These are not the terms for these settings; read them again.',
          { field: 'acceptedTerms' },
        );
      const method = await ctx.store.autoTopUp.paymentMethod({
        workspaceId: input.workspaceId,
        provider: payments.provider,
      });
      if (!method)
        throw new CreditsError('VALIDATION', 'Save a payment method first.', {
          field: 'paymentMethod',
        });
      const now = ctx.now();
      return ctx.store.autoTopUp.enable({
        consent: {
          workspaceId: input.workspaceId,
          wallet: input.wallet,
          givenBy: ctx.caller.id,
          givenAt: now,
          terms,
          packId: pack.id,
          packCredits: pack.credits,
          priceCents: pack.priceCents,
          currency: pack.currency,
          threshold: input.threshold,
          monthlyCapCents: input.monthlyCapCents,
        },
        now,
        audit: { actor: ctx.caller.id, action: 'auto_top_up.enable' },
      });
    }),

  /** Owners turn it off. Audited when it was on. */
  disable: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema, wallet: walletSchema }).strict())
    .mutation(async ({ ctx, input }) => ({
      disabled: await ctx.store.autoTopUp.disable({
        ...input,
        now: ctx.now(),
        audit: { actor: ctx.caller.id, action: 'auto_top_up.disable' },
      }),
    })),

  /**
   * Owners save a payment method for auto top-up: the provider's page to enter it. It is
   * saved when the provider's signed webhook says so (as a purchase is paid).
   */
  setupPaymentMethod: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          returnPath: z
            .string()
            .regex(/^\/[A-Za-z0-9/_\-?=&.%]*$/)
            .max(200)
            .optional(),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const payments = requirePayments(ctx);
      if (!payments.createSetupSession)
        throw new CreditsError(
          'FEATURE_UNAVAILABLE',
          `The ${payments.provider} provider cannot save payment methods here.`,
        );
      await loadWorkspace(ctx.store, input.workspaceId);
      const made = await payments
        .createSetupSession({
          workspaceId: input.workspaceId,
          createdBy: ctx.caller.id,
          returnUrl: input.returnPath ?? '/billing',
        })
        .catch(
          whenProviderFails(
            'The payment provider did not answer; no card was saved. Try again in a moment.',
            { provider: payments.provider },
          ),
        );
      return { url: made.url };
    }),

  /** Owners forget the saved method; auto top-up turns off where it was on. Audited. */
  removePaymentMethod: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const payments = requirePayments(ctx);
      return {
        removed: await ctx.store.autoTopUp.removePaymentMethod({
          workspaceId: input.workspaceId,
          provider: payments.provider,
          now: ctx.now(),
          audit: { actor: ctx.caller.id, action: 'payment_method.remove' },
        }),
      };
    }),
} satisfies TRPCRouterRecord;
