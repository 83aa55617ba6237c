import type { TRPCRouterRecord } from '@trpc/server';
import { randomBytes } from 'node:crypto';
import { z } from 'zod';
import { workspaceProcedure } from '../trpc.js';
import { workspaceIdSchema } from '../schemas.js';
import { CreditsError } from '@credits/domain';
import { isPublicWebhookUrl } from '../webhook-url.js';

export const notificationsRouter = {
  /** Low and empty alerts, newest first. */
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
    .query(({ ctx, input }) => ctx.store.billing.notifications(input)),

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
} satisfies TRPCRouterRecord;
