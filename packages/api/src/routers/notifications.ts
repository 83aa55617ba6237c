import type { TRPCRouterRecord } from '@trpc/server';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { workspaceProcedure } from '../trpc.js';
import { walletSchema, workspaceIdSchema } from '../schemas.js';
import { CreditsError, walletStatus } from '@credits/domain';
import type { Notification } from '@credits/store';
import type { Context } from '../trpc.js';
import { isPublicWebhookUrl } from '../webhook-url.js';

/**
 * Whether each low or empty alert still holds: it is resolved once a newer low or empty alert
 * of the same wallet replaced it, or once the wallet's balance is no longer low (for `low`,
 * at the workspace's own threshold when its owners set one) or no longer empty (for `empty`). Other kinds (spend controls) are records, never resolved.
 */
async function withResolution(ctx: Context, workspaceId: string, items: Notification[]) {
  const [wallets, own] = await Promise.all([
    ctx.store.wallets(workspaceId),
    ctx.store.billing.lowThresholds(workspaceId),
  ]);
  const balances = new Map(wallets.map((w) => [w.kind, w.available] as const));
  const thresholds = new Map(own.map((t) => [t.wallet, t.lowThreshold] as const));
  const catalog = new Map(ctx.store.catalogSnapshot().map((c) => [c.kind, c] as const));
  const newest = new Map<string, number>();
  for (const n of items)
    if (n.kind === 'low' || n.kind === 'empty')
      newest.set(n.wallet, Math.max(newest.get(n.wallet) ?? 0, n.id));
  return items.map((n) => {
    if (n.kind !== 'low' && n.kind !== 'empty') return { ...n, resolved: false };
    const entry = catalog.get(n.wallet);
    const status = walletStatus({
      balance: balances.get(n.wallet) ?? 0,
      lowThreshold: thresholds.get(n.wallet) ?? entry?.lowThreshold ?? 0,
      available: entry?.available ?? true,
    });
    const stillHolds = n.kind === 'empty' ? status === 'empty' : status === 'low';
    return { ...n, resolved: newest.get(n.wallet) !== n.id || !stillHolds };
  });
}

export const notificationsRouter = {
  /**
   * Alerts, newest first, each with `resolved` (a low or empty alert whose wallet has been
   * refilled, or that a newer alert replaced).
   */
  list: workspaceProcedure('read')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          unreadOnly: z.boolean().optional(),
          limit: z.number().int().min(1).max(200).default(50),
        })
        .strict(),
    )
    .query(async ({ ctx, input }) =>
      withResolution(ctx, input.workspaceId, await ctx.store.billing.notifications(input)),
    ),

  markRead: workspaceProcedure('read')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          ids: z.array(z.number().int().positive()).min(1).max(200),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => ({
      marked: await ctx.store.billing.markRead({ ...input, now: ctx.now() }),
    })),

  /**
   * Each wallet's "low" threshold for this workspace: the owners' own (`custom: true`) or the
   * catalog's, with the catalog's value beside it.
   */
  lowThresholds: workspaceProcedure('read')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .query(async ({ ctx, input }) => {
      const own = new Map(
        (await ctx.store.billing.lowThresholds(input.workspaceId)).map(
          (t) => [t.wallet, t] as const,
        ),
      );
      return ctx.store
        .catalogSnapshot()
        .filter((c) => c.available)
        .map((c) => ({
          wallet: c.kind,
          label: c.label,
          lowThreshold: own.get(c.kind)?.lowThreshold ?? c.lowThreshold,
          custom: own.has(c.kind),
          catalogThreshold: c.lowThreshold,
          updatedAt: own.get(c.kind)?.updatedAt ?? null,
        }));
    }),

  /**
   * Owners set a wallet's "low" threshold for their workspace (null: back to the catalog's).
   * A threshold that makes the wallet low raises its low alert at once; one that no longer
   * does resolves the alert (worked out when alerts are read). Audited.
   */
  setLowThreshold: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          wallet: walletSchema,
          lowThreshold: z.number().int().min(0).max(1_000_000_000).nullable(),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const entry = ctx.store.catalogSnapshot().find((c) => c.kind === input.wallet);
      if (!entry || !entry.available)
        throw new CreditsError('VALIDATION', 'This wallet is not available yet.', {
          field: 'wallet',
        });
      const set = await ctx.store.billing.setLowThreshold({
        workspaceId: input.workspaceId,
        wallet: input.wallet,
        lowThreshold: input.lowThreshold,
        catalog: {
          label: entry.label,
          lowThreshold: entry.lowThreshold,
          available: entry.available,
        },
        now: ctx.now(),
        audit: { actor: ctx.caller.id, action: 'wallet.low_threshold.set', target: '' },
      });
      return { wallet: input.wallet, ...set };
    }),

  /**
   * Owners set where alerts are posted (or null to stop). Each delivery is signed with a
   * secret returned once, here: `credits-signature: t=<unix>,v1=<hex HMAC-SHA256 of "t.body">`.
   */
  setWebhook: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          url: z
            .url({ protocol: /^https?$/ })
            .max(500)
            .nullable(),
        })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      if (input.url !== null && !isPublicWebhookUrl(input.url)) {
        throw new CreditsError(
          'VALIDATION',
          'Alert webhooks must go to a public http(s) address.',
          { field: 'url' },
        );
      }
      const secret = input.url ? `whsec_${randomBytes(24).toString('base64url')}` : null;
      await ctx.store.billing.setAlertWebhook({
        workspaceId: input.workspaceId,
        url: input.url,
        secret,
        now: ctx.now(),
        audit: { actor: ctx.caller.id, action: 'workspace.alert_webhook.set', target: '' },
      });
      return { url: input.url, secret };
    }),

  /** The webhook's address (never its secret) and the delivery log, newest first. */
  webhook: workspaceProcedure('owner')
    .input(
      z
        .object({
          workspaceId: workspaceIdSchema,
          limit: z.number().int().min(1).max(200).default(50),
        })
        .strict(),
    )
    .query(async ({ ctx, input }) => {
      const [hook, deliveries] = await Promise.all([
        ctx.store.billing.alertWebhook(input.workspaceId),
        ctx.store.billing.webhookDeliveries(input),
      ]);
      return { ...hook, deliveries };
    }),

  /** A new signing secret, returned once, here; the old one stops signing at once. */
  rotateWebhookSecret: workspaceProcedure('owner')
    .input(z.object({ workspaceId: workspaceIdSchema }).strict())
    .mutation(async ({ ctx, input }) => {
      const secret = `whsec_${randomBytes(24).toString('base64url')}`;
      const rotated = await ctx.store.billing.rotateAlertWebhookSecret({
        workspaceId: input.workspaceId,
        secret,
        now: ctx.now(),
        audit: {
          actor: ctx.caller.id,
          action: 'workspace.alert_webhook.rotate_secret',
          target: '',
        },
      });
      if (!rotated)
        throw new CreditsError('NOT_FOUND', 'No alert webhook is set for this workspace.', {});
      return { secret };
    }),

  /** Post one alert's webhook again now, with a fresh set of retries. */
  resend: workspaceProcedure('owner')
    .input(
      z
        .object({ workspaceId: workspaceIdSchema, notificationId: z.number().int().positive() })
        .strict(),
    )
    .mutation(async ({ ctx, input }) => {
      const queued = await ctx.store.billing.resendNotification({
        workspaceId: input.workspaceId,
        id: input.notificationId,
        now: ctx.now(),
        audit: { actor: ctx.caller.id, action: 'notification.resend', target: '' },
      });
      if (!queued)
        throw new CreditsError(
          'NOT_FOUND',
          'No such alert in this workspace, or no alert webhook is set.',
          {},
        );
      return { queued };
    }),
} satisfies TRPCRouterRecord;
