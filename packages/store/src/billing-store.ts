import { randomUUID } from 'node:crypto';
import {
  CreditsError,
  WALLET_KINDS,
  allocate,
  type Pack,
  type Plan,
  type WalletCatalogEntry,
  type WalletKind,
} from '@credits/domain';
import type { Driver, TxExecutor } from './executor.js';
import { writeAudit } from './accounts-store.js';
import type { AuditInput } from './account-types.js';
import type { BillingStore, Notification, Order } from './billing/types.js';
import type { LedgerTx } from './ledger-tx.js';

const ORDER_COLUMNS = `id, workspace_id AS "workspaceId", pack_id AS "packId", wallet, credits, price_cents AS "priceCents",
  currency, provider, provider_session AS "providerSession", checkout_url AS "checkoutUrl", status, lot_id AS "lotId",
  refunded_credits AS "refundedCredits", spent_before_refund AS "spentBeforeRefund", created_by AS "createdBy",
  created_at AS "createdAt", updated_at AS "updatedAt"`;

const NOTIFICATION_COLUMNS = `id, workspace_id AS "workspaceId", wallet, kind, balance, message, created_at AS "createdAt",
  read_at AS "readAt", delivery, attempts`;

/** Numeric columns as numbers (PostgreSQL gives BIGINT as text without a parser). */
function num<T extends object>(row: T, keys: (keyof T)[]): T {
  const out = { ...row } as Record<keyof T, unknown>;
  for (const k of keys) if (out[k] !== null && out[k] !== undefined) out[k] = Number(out[k]);
  return out as T;
}

function toOrder(r: Order): Order {
  return num(r, [
    'credits',
    'priceCents',
    'refundedCredits',
    'spentBeforeRefund',
    'createdAt',
    'updatedAt',
  ]);
}

/**
 * Plans, packs, the wallet catalog, orders and payments, refunds, adjustments and alert
 * notifications. Money-moving operations run inside one transaction with their ledger
 * entries, through the same {@link LedgerTx} building blocks as every other movement.
 */
export class SqlBillingStore implements BillingStore {
  constructor(
    private readonly driver: Driver,
    private readonly ledger: (tx: TxExecutor) => LedgerTx,
    private readonly idempotent: <T>(
      input: {
        scope: string;
        key: string;
        operation: string;
        requestHash: string;
        now: number;
        audit?: AuditInput;
      },
      body: (tx: TxExecutor) => Promise<T>,
    ) => Promise<T>,
    private readonly onCatalogChange: () => void,
  ) {}

  /** Insert the seeded plans, packs and catalog where missing; edits made since stay. */
  seed(input: {
    plans: readonly Plan[];
    packs: readonly Pack[];
    catalog: readonly WalletCatalogEntry[];
    now: number;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      for (const p of input.plans) {
        await tx.run(
          `INSERT INTO plans (id, name, ai_tokens_per_cycle, price_cents, features, trial_eligible, active, updated_at)
           VALUES (?, ?, ?, ?, ?, ?, 1, ?) ON CONFLICT DO NOTHING`,
          [
            p.id,
            p.name,
            p.aiTokensPerCycle,
            p.priceCents,
            JSON.stringify(p.features),
            p.trialEligible ? 1 : 0,
            input.now,
          ],
        );
      }
      for (const p of input.packs) {
        await tx.run(
          `INSERT INTO packs (id, wallet, credits, price_cents, currency, active, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING`,
          [p.id, p.wallet, p.credits, p.priceCents, p.currency, p.active ? 1 : 0, input.now],
        );
      }
      for (const c of input.catalog) {
        await tx.run(
          `INSERT INTO wallet_catalog (kind, label, used_for, available, low_threshold, updated_at) VALUES (?, ?, ?, ?, ?, ?)
           ON CONFLICT DO NOTHING`,
          [c.kind, c.label, c.usedFor, c.available ? 1 : 0, c.lowThreshold, input.now],
        );
      }
    });
  }

  // ---------------------------------------------------------------- plans

  async plans(input: { includeRetired?: boolean } = {}): Promise<(Plan & { active: boolean })[]> {
    const rows = await this.driver.read.all<Record<string, unknown>>(
      `SELECT id, name, ai_tokens_per_cycle AS "aiTokensPerCycle", price_cents AS "priceCents", features,
        trial_eligible AS "trialEligible", active FROM plans ${input.includeRetired ? '' : 'WHERE active = 1'} ORDER BY price_cents, id`,
    );
    return rows.map((r) => ({
      id: String(r.id),
      name: String(r.name),
      aiTokensPerCycle: Number(r.aiTokensPerCycle),
      priceCents: Number(r.priceCents),
      features: JSON.parse(String(r.features)) as string[],
      trialEligible: Boolean(Number(r.trialEligible)),
      active: Boolean(Number(r.active)),
    }));
  }

  async plan(id: string): Promise<(Plan & { active: boolean }) | null> {
    return (await this.plans({ includeRetired: true })).find((p) => p.id === id) ?? null;
  }

  /** Create or update a plan; audited with before and after. */
  savePlan(input: {
    plan: Plan & { active: boolean };
    now: number;
    audit: AuditInput;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      const before = await tx.get(`SELECT * FROM plans WHERE id = ?`, [input.plan.id]);
      const p = input.plan;
      await tx.run(
        `INSERT INTO plans (id, name, ai_tokens_per_cycle, price_cents, features, trial_eligible, active, updated_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET name = excluded.name, ai_tokens_per_cycle = excluded.ai_tokens_per_cycle,
           price_cents = excluded.price_cents, features = excluded.features, trial_eligible = excluded.trial_eligible,
           active = excluded.active, updated_at = excluded.updated_at`,
        [
          p.id,
          p.name,
          p.aiTokensPerCycle,
          p.priceCents,
          JSON.stringify(p.features),
          p.trialEligible ? 1 : 0,
          p.active ? 1 : 0,
          input.now,
        ],
      );
      await writeAudit(
        tx,
        { ...input.audit, target: `plan:${p.id}`, before: before ?? null, after: p },
        input.now,
      );
    });
  }

  // ---------------------------------------------------------------- packs

  async packs(input: { wallet?: WalletKind; includeInactive?: boolean } = {}): Promise<Pack[]> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (input.wallet) {
      where.push('wallet = ?');
      params.push(input.wallet);
    }
    if (!input.includeInactive) where.push('active = 1');
    const rows = await this.driver.read.all<Record<string, unknown>>(
      `SELECT id, wallet, credits, price_cents AS "priceCents", currency, active FROM packs
       ${where.length ? `WHERE ${where.join(' AND ')}` : ''} ORDER BY wallet, credits`,
      params,
    );
    return rows.map((r) => ({
      id: String(r.id),
      wallet: r.wallet as Pack['wallet'],
      credits: Number(r.credits),
      priceCents: Number(r.priceCents),
      currency: String(r.currency),
      active: Boolean(Number(r.active)),
    }));
  }

  savePack(input: { pack: Pack; now: number; audit: AuditInput }): Promise<void> {
    return this.driver.write(async (tx) => {
      const before = await tx.get(`SELECT * FROM packs WHERE id = ?`, [input.pack.id]);
      const p = input.pack;
      await tx.run(
        `INSERT INTO packs (id, wallet, credits, price_cents, currency, active, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?)
         ON CONFLICT (id) DO UPDATE SET wallet = excluded.wallet, credits = excluded.credits,
           price_cents = excluded.price_cents, currency = excluded.currency, active = excluded.active,
           updated_at = excluded.updated_at`,
        [p.id, p.wallet, p.credits, p.priceCents, p.currency, p.active ? 1 : 0, input.now],
      );
      await writeAudit(
        tx,
        { ...input.audit, target: `pack:${p.id}`, before: before ?? null, after: p },
        input.now,
      );
    });
  }

  // ---------------------------------------------------------------- catalog

  async catalog(): Promise<WalletCatalogEntry[]> {
    const rows = await this.driver.read.all<Record<string, unknown>>(
      `SELECT kind, label, used_for AS "usedFor", available, low_threshold AS "lowThreshold" FROM wallet_catalog`,
    );
    return rows
      .map((r) => ({
        kind: r.kind as WalletKind,
        label: String(r.label),
        usedFor: String(r.usedFor),
        jobKind: (
          {
            ai_tokens: 'ai',
            image_credits: 'image',
            video_credits: 'video',
            audio_credits: 'audio',
          } as const
        )[r.kind as WalletKind],
        available: Boolean(Number(r.available)),
        lowThreshold: Number(r.lowThreshold),
      }))
      .sort((a, b) => WALLET_KINDS.indexOf(a.kind) - WALLET_KINDS.indexOf(b.kind));
  }

  async updateCatalog(input: {
    kind: WalletKind;
    patch: { label?: string; usedFor?: string; available?: boolean; lowThreshold?: number };
    now: number;
    audit: AuditInput;
  }): Promise<void> {
    await this.driver.write(async (tx) => {
      const before = await tx.get<Record<string, unknown>>(
        `SELECT * FROM wallet_catalog WHERE kind = ?`,
        [input.kind],
      );
      if (!before)
        throw new CreditsError('NOT_FOUND', 'No such wallet kind in the catalog.', {
          kind: input.kind,
        });
      const p = input.patch;
      await tx.run(
        `UPDATE wallet_catalog SET label = COALESCE(?, label), used_for = COALESCE(?, used_for),
           available = COALESCE(?, available), low_threshold = COALESCE(?, low_threshold), updated_at = ? WHERE kind = ?`,
        [
          p.label ?? null,
          p.usedFor ?? null,
          p.available === undefined ? null : p.available ? 1 : 0,
          p.lowThreshold ?? null,
          input.now,
          input.kind,
        ],
      );
      await writeAudit(
        tx,
        { ...input.audit, target: `catalog:${input.kind}`, before, after: p },
        input.now,
      );
    });
    this.onCatalogChange();
  }

  // ---------------------------------------------------------------- orders

  /** A pending order for a pack; the same key and body give back the same order. */
  createOrder(input: {
    workspaceId: string;
    pack: Pack;
    provider: string;
    createdBy: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<Order> {
    return this.idempotent(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'checkout',
        requestHash: input.requestHash,
        now: input.now,
      },
      async (tx) => {
        const order: Order = {
          id: `ord_${randomUUID().replaceAll('-', '')}`,
          workspaceId: input.workspaceId,
          packId: input.pack.id,
          wallet: input.pack.wallet,
          credits: input.pack.credits,
          priceCents: input.pack.priceCents,
          currency: input.pack.currency,
          provider: input.provider,
          providerSession: null,
          checkoutUrl: null,
          status: 'pending',
          lotId: null,
          refundedCredits: null,
          spentBeforeRefund: null,
          createdBy: input.createdBy,
          createdAt: input.now,
          updatedAt: input.now,
        };
        await tx.run(
          `INSERT INTO orders (id, workspace_id, pack_id, wallet, credits, price_cents, currency, provider, status,
             created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?)`,
          [
            order.id,
            order.workspaceId,
            order.packId,
            order.wallet,
            order.credits,
            order.priceCents,
            order.currency,
            order.provider,
            order.createdBy,
            input.now,
            input.now,
          ],
        );
        return order;
      },
    );
  }

  /** Remember the provider's session for an order (set once: the first one wins). */
  attachSession(input: {
    orderId: string;
    session: string;
    url: string;
    now: number;
  }): Promise<Order> {
    return this.driver.write(async (tx) => {
      await tx.run(
        `UPDATE orders SET provider_session = ?, checkout_url = ?, updated_at = ? WHERE id = ? AND provider_session IS NULL`,
        [input.session, input.url, input.now, input.orderId],
      );
      const row = await tx.get<Order>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [
        input.orderId,
      ]);
      if (!row) throw new Error(`order ${input.orderId} vanished`);
      return toOrder(row);
    });
  }

  async order(input: { orderId: string; workspaceId?: string }): Promise<Order | null> {
    const row = await this.driver.read.get<Order>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?${input.workspaceId ? ' AND workspace_id = ?' : ''}`,
      input.workspaceId ? [input.orderId, input.workspaceId] : [input.orderId],
    );
    return row ? toOrder(row) : null;
  }

  async orderBySession(input: { provider: string; session: string }): Promise<Order | null> {
    const row = await this.driver.read.get<Order>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE provider = ? AND provider_session = ?`,
      [input.provider, input.session],
    );
    return row ? toOrder(row) : null;
  }

  async orders(input: { workspaceId: string; limit: number }): Promise<Order[]> {
    const rows = await this.driver.read.all<Order>(
      `SELECT ${ORDER_COLUMNS} FROM orders WHERE workspace_id = ? ORDER BY created_at DESC, id DESC LIMIT ?`,
      [input.workspaceId, input.limit],
    );
    return rows.map(toOrder);
  }

  /**
   * Apply a verified payment event once: the event id is claimed first (a UNIQUE key, kept
   * for good), then a pending order becomes paid with a purchase lot in the pack's wallet
   * (never another), or declined/expired with no credits. Returns what happened.
   */
  applyPaymentEvent(input: {
    provider: string;
    eventId: string;
    type: string;
    session: string;
    outcome: 'paid' | 'declined' | 'expired';
    now: number;
  }): Promise<{
    result: 'duplicate' | 'unknown_order' | 'already_settled' | 'paid' | 'declined' | 'expired';
    order: Order | null;
  }> {
    return this.driver.write(async (tx) => {
      const claimed = await tx.run(
        `INSERT INTO webhook_events (provider, event_id, type, received_at) VALUES (?, ?, ?, ?) ON CONFLICT DO NOTHING`,
        [input.provider, input.eventId, input.type, input.now],
      );
      if (claimed.changes !== 1) return { result: 'duplicate' as const, order: null };
      const row = await tx.get<Order>(
        `SELECT ${ORDER_COLUMNS} FROM orders WHERE provider = ? AND provider_session = ? ${this.driver.lockRows}`,
        [input.provider, input.session],
      );
      if (!row) return { result: 'unknown_order' as const, order: null };
      const order = toOrder(row);
      await tx.run(`UPDATE webhook_events SET order_id = ? WHERE provider = ? AND event_id = ?`, [
        order.id,
        input.provider,
        input.eventId,
      ]);
      if (order.status !== 'pending') return { result: 'already_settled' as const, order };
      if (input.outcome !== 'paid') {
        await tx.run(
          `UPDATE orders SET status = ?, updated_at = ? WHERE id = ? AND status = 'pending'`,
          [input.outcome, input.now, order.id],
        );
        return {
          result: input.outcome,
          order: { ...order, status: input.outcome, updatedAt: input.now },
        };
      }
      const w = await this.ledger(tx).openWallet(order.workspaceId, order.wallet);
      const lotId = `lot_${randomUUID().replaceAll('-', '')}`;
      await tx.run(
        `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, order_id, created_at)
         VALUES (?, ?, ?, 'purchase', ?, ?, ?, ?)`,
        [lotId, order.workspaceId, order.wallet, order.credits, order.credits, order.id, input.now],
      );
      await w.entry({
        type: 'purchase',
        amount: order.credits,
        availableDelta: order.credits,
        heldDelta: 0,
        orderId: order.id,
        actor: `payment:${input.provider}`,
        description: `Bought ${order.credits.toLocaleString('en-US')} credits (${order.packId})`,
        lots: [{ lotId, amount: order.credits }],
        now: input.now,
      });
      await w.save(input.now);
      const upd = await tx.run(
        `UPDATE orders SET status = 'paid', lot_id = ?, updated_at = ? WHERE id = ? AND status = 'pending'`,
        [lotId, input.now, order.id],
      );
      if (upd.changes !== 1) throw new Error(`ledger bug: order ${order.id} changed while locked`);
      return {
        result: 'paid' as const,
        order: { ...order, status: 'paid' as const, lotId, updatedAt: input.now },
      };
    });
  }

  /** Pending orders older than `before` expire (no credits). */
  expireOrders(input: { before: number; now: number }): Promise<number> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE orders SET status = 'expired', updated_at = ? WHERE status = 'pending' AND created_at < ?`,
        [input.now, input.before],
      );
      return r.changes;
    });
  }

  /**
   * Refund a paid order: what is left of its lot leaves the wallet as a `refund` entry, the
   * lot closes (credits still held by running jobs expire when they return), and the answer
   * says how much had already been spent.
   */
  refundOrder(input: {
    orderId: string;
    actor: string;
    reason: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<{
    orderId: string;
    refunded: number;
    alreadySpent: number;
    stillHeld: number;
    balance: number;
  }> {
    return this.idempotent(
      {
        scope: '_admin',
        key: input.idempotencyKey,
        operation: 'refund',
        requestHash: input.requestHash,
        now: input.now,
      },
      async (tx) => {
        const row = await tx.get<Order>(`SELECT ${ORDER_COLUMNS} FROM orders WHERE id = ?`, [
          input.orderId,
        ]);
        if (!row) throw new CreditsError('NOT_FOUND', 'No such order.', { orderId: input.orderId });
        const order = toOrder(row);
        if (order.status !== 'paid' || !order.lotId) {
          throw new CreditsError(
            'VALIDATION',
            `Only a paid order can be refunded; this one is ${order.status}.`,
            { status: order.status },
          );
        }
        const w = await this.ledger(tx).openWallet(order.workspaceId, order.wallet);
        const lot = await tx.get<{ granted: number; remaining: number; expiredAt: number | null }>(
          `SELECT granted, remaining, expired_at AS "expiredAt" FROM lots WHERE id = ? ${this.driver.lockRows}`,
          [order.lotId],
        );
        if (!lot) throw new Error(`ledger bug: order ${order.id} has no lot`);
        const held = await tx.get<{ n: number | null }>(
          `SELECT SUM(h.amount) AS n FROM hold_lots h JOIN jobs j ON j.id = h.job_id WHERE h.lot_id = ? AND j.status = 'reserved'`,
          [order.lotId],
        );
        const remaining = Number(lot.remaining);
        const stillHeld = Number(held?.n ?? 0);
        const alreadySpent = Number(lot.granted) - remaining - stillHeld;
        await tx.run(
          `UPDATE lots SET remaining = 0, expired_at = COALESCE(expired_at, ?),
             expires_at = CASE WHEN expires_at IS NULL OR expires_at > ? THEN ? ELSE expires_at END WHERE id = ?`,
          [input.now, input.now, input.now, order.lotId],
        );
        if (remaining > 0) {
          await w.entry({
            type: 'refund',
            amount: -remaining,
            availableDelta: -remaining,
            heldDelta: 0,
            orderId: order.id,
            actor: input.actor,
            description: `Refund of order ${order.id}: ${input.reason}`,
            lots: [{ lotId: order.lotId, amount: -remaining }],
            now: input.now,
          });
        }
        const after = await w.save(input.now);
        await tx.run(
          `UPDATE orders SET status = 'refunded', refunded_credits = ?, spent_before_refund = ?, updated_at = ? WHERE id = ?`,
          [remaining, alreadySpent, input.now, order.id],
        );
        const result = {
          orderId: order.id,
          refunded: remaining,
          alreadySpent,
          stillHeld,
          balance: after.available,
        };
        await writeAudit(
          tx,
          {
            actor: input.actor,
            action: 'order.refund',
            target: `order:${order.id}`,
            workspaceId: order.workspaceId,
            reason: input.reason,
            before: { status: 'paid' },
            after: result,
          },
          input.now,
        );
        return result;
      },
    );
  }

  // ---------------------------------------------------------------- adjustments

  /**
   * A signed manual adjustment: a positive one is a new `adjustment` lot; a negative one
   * draws from the wallet's lots in spend order (any restriction) and never below zero.
   */
  adjust(input: {
    workspaceId: string;
    wallet: WalletKind;
    amount: number;
    reason: string;
    actor: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<{
    wallet: WalletKind;
    amount: number;
    balance: number;
    lots: { lotId: string; amount: number }[];
  }> {
    if (!Number.isSafeInteger(input.amount) || input.amount === 0)
      throw new Error('adjustment must be a non-zero integer');
    return this.idempotent(
      {
        scope: input.workspaceId,
        key: input.idempotencyKey,
        operation: 'adjust',
        requestHash: input.requestHash,
        now: input.now,
        audit: {
          actor: input.actor,
          action: 'ledger.adjust',
          target: `wallet:${input.workspaceId}/${input.wallet}`,
          workspaceId: input.workspaceId,
          reason: input.reason,
        },
      },
      async (tx) => {
        const ltx = this.ledger(tx);
        const w = await ltx.openWallet(input.workspaceId, input.wallet);
        let lots: { lotId: string; amount: number }[];
        if (input.amount > 0) {
          const lotId = `lot_${randomUUID().replaceAll('-', '')}`;
          await tx.run(
            `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, created_at) VALUES (?, ?, ?, 'adjustment', ?, ?, ?)`,
            [lotId, input.workspaceId, input.wallet, input.amount, input.amount, input.now],
          );
          lots = [{ lotId, amount: input.amount }];
        } else {
          const live = await ltx.liveLots(w, input.now, input.actor);
          const restrictions = [
            ...new Set(live.map((l) => l.restriction).filter((r): r is string => r !== null)),
          ];
          const plan = allocate({
            lots: live,
            amount: -input.amount,
            ctx: { now: input.now, restrictions },
          });
          if (!plan.ok) {
            throw new CreditsError(
              'INSUFFICIENT_CREDITS',
              'The wallet has fewer credits than this adjustment removes.',
              {
                wallet: input.wallet,
                needed: plan.needed,
                available: plan.available,
              },
            );
          }
          await ltx.drawLots(plan.allocations);
          lots = plan.allocations.map((a) => ({ lotId: a.lotId, amount: -a.amount }));
        }
        await w.entry({
          type: 'adjustment',
          amount: input.amount,
          availableDelta: input.amount,
          heldDelta: 0,
          actor: input.actor,
          description: input.reason,
          lots,
          now: input.now,
        });
        const after = await w.save(input.now);
        return { wallet: input.wallet, amount: input.amount, balance: after.available, lots };
      },
    );
  }

  // ---------------------------------------------------------------- notifications

  async notifications(input: {
    workspaceId: string;
    unreadOnly?: boolean;
    limit: number;
  }): Promise<Notification[]> {
    const rows = await this.driver.read.all<Notification>(
      `SELECT ${NOTIFICATION_COLUMNS} FROM notifications WHERE workspace_id = ? ${input.unreadOnly ? 'AND read_at IS NULL' : ''}
       ORDER BY id DESC LIMIT ?`,
      [input.workspaceId, input.limit],
    );
    return rows.map((r) => num(r, ['id', 'balance', 'createdAt', 'readAt', 'attempts']));
  }

  markRead(input: { workspaceId: string; ids: number[]; now: number }): Promise<number> {
    if (input.ids.length === 0) return Promise.resolve(0);
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE notifications SET read_at = ? WHERE workspace_id = ? AND read_at IS NULL AND id IN (${input.ids.map(() => '?').join(', ')})`,
        [input.now, input.workspaceId, ...input.ids],
      );
      return r.changes;
    });
  }

  setAlertWebhook(input: {
    workspaceId: string;
    url: string | null;
    secret: string | null;
    now: number;
    audit: AuditInput;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE workspaces SET alert_webhook_url = ?, alert_webhook_secret = ? WHERE id = ?`,
        [input.url, input.secret, input.workspaceId],
      );
      if (r.changes !== 1)
        throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
          workspaceId: input.workspaceId,
        });
      await writeAudit(
        tx,
        {
          ...input.audit,
          target: `workspace:${input.workspaceId}`,
          workspaceId: input.workspaceId,
          after: { url: input.url },
        },
        input.now,
      );
    });
  }

  /** Notifications whose webhook is due, with where to send them. */
  async dueDeliveries(input: {
    now: number;
    limit: number;
  }): Promise<(Notification & { url: string; secret: string })[]> {
    const rows = await this.driver.read.all<
      Notification & { url: string | null; secret: string | null }
    >(
      `SELECT n.id, n.workspace_id AS "workspaceId", n.wallet, n.kind, n.balance, n.message, n.created_at AS "createdAt",
         n.read_at AS "readAt", n.delivery, n.attempts, w.alert_webhook_url AS "url", w.alert_webhook_secret AS "secret"
       FROM notifications n JOIN workspaces w ON w.id = n.workspace_id
       WHERE n.delivery = 'pending' AND n.next_attempt_at <= ?
         AND w.alert_webhook_url IS NOT NULL AND w.alert_webhook_secret IS NOT NULL
       ORDER BY n.next_attempt_at LIMIT ?`,
      [input.now, input.limit],
    );
    return rows
      .filter(
        (r): r is Notification & { url: string; secret: string } =>
          r.url !== null && r.secret !== null,
      )
      .map((r) => num(r, ['id', 'balance', 'createdAt', 'attempts']));
  }

  /**
   * Claim a due delivery before sending it. The conditional update succeeds for one caller
   * only (another pass, another server process), and moves the next attempt to `leaseUntil`,
   * so a sender that dies mid-delivery is retried once the lease has run out.
   */
  claimDelivery(input: { id: number; now: number; leaseUntil: number }): Promise<boolean> {
    return this.driver.write(async (tx) => {
      const r = await tx.run(
        `UPDATE notifications SET next_attempt_at = ? WHERE id = ? AND delivery = 'pending' AND next_attempt_at <= ?`,
        [input.leaseUntil, input.id, input.now],
      );
      return r.changes === 1;
    });
  }

  recordDelivery(input: {
    id: number;
    ok: boolean;
    now: number;
    nextAttemptAt: number | null;
  }): Promise<void> {
    return this.driver.write(async (tx) => {
      await tx.run(
        `UPDATE notifications SET attempts = attempts + 1, delivery = ?, next_attempt_at = ? WHERE id = ? AND delivery = 'pending'`,
        [
          input.ok ? 'delivered' : input.nextAttemptAt === null ? 'failed' : 'pending',
          input.nextAttemptAt,
          input.id,
        ],
      );
    });
  }

  // ---------------------------------------------------------------- plans on workspaces and cycles

  /**
   * An admin's plan change, in one transaction under one idempotency key: a downgrade (a
   * smaller allowance) waits for the next reset; anything else applies now, and the AI
   * Tokens allowance rises at once to the new limit less what was used this cycle (spent or
   * held) — a top-up lot expiring with the cycle. The same key and body replay the answer.
   */
  changePlan(input: {
    workspaceId: string;
    plan: Plan;
    downgrade: boolean;
    cycle: { key: string; start: number; end: number };
    actor: string;
    reason: string;
    now: number;
    idempotencyKey: string;
    requestHash: string;
  }): Promise<{
    plan: string;
    pendingPlan: string | null;
    effective: 'now' | 'next_reset';
    toppedUp: number;
  }> {
    return this.idempotent(
      {
        scope: '_admin',
        key: `setPlan:${input.idempotencyKey}`,
        operation: 'setPlan',
        requestHash: input.requestHash,
        now: input.now,
      },
      async (tx) => {
        const before = await tx.get<{ plan: string; pendingPlan: string | null }>(
          `SELECT plan, pending_plan AS "pendingPlan" FROM workspaces WHERE id = ? ${this.driver.lockRows}`,
          [input.workspaceId],
        );
        if (!before)
          throw new CreditsError('WORKSPACE_NOT_FOUND', 'No such workspace.', {
            workspaceId: input.workspaceId,
          });
        const audit = (after: unknown) =>
          writeAudit(
            tx,
            {
              actor: input.actor,
              action: 'workspace.plan.set',
              target: `workspace:${input.workspaceId}`,
              workspaceId: input.workspaceId,
              reason: input.reason,
              before,
              after,
            },
            input.now,
          );
        if (input.downgrade) {
          await tx.run(`UPDATE workspaces SET pending_plan = ? WHERE id = ?`, [
            input.plan.id,
            input.workspaceId,
          ]);
          const answer = {
            plan: before.plan,
            pendingPlan: input.plan.id,
            effective: 'next_reset' as const,
            toppedUp: 0,
          };
          await audit(answer);
          return answer;
        }
        await tx.run(
          `UPDATE workspaces SET plan = ?, features = ?, pending_plan = NULL WHERE id = ?`,
          [input.plan.id, JSON.stringify(input.plan.features), input.workspaceId],
        );
        const w = await this.ledger(tx).openWallet(input.workspaceId, 'ai_tokens');
        const used = await tx.get<{ n: number | null }>(
          `SELECT SUM(-amount) AS n FROM ledger_entries WHERE workspace_id = ? AND wallet = 'ai_tokens' AND type = 'spend' AND created_at >= ?`,
          [input.workspaceId, input.cycle.start],
        );
        const left = await tx.get<{ n: number | null }>(
          `SELECT SUM(remaining) AS n FROM lots WHERE workspace_id = ? AND wallet = 'ai_tokens' AND source = 'plan_allowance'
             AND expired_at IS NULL AND expires_at > ? AND (cycle_key = ? OR cycle_key LIKE ?)`,
          [input.workspaceId, input.now, input.cycle.key, `${input.cycle.key}+%`],
        );
        // Held tokens are in use: they count as used, so an upgrade never hands them out twice.
        const topUp = Math.max(
          0,
          input.plan.aiTokensPerCycle - Number(used?.n ?? 0) - w.held - Number(left?.n ?? 0),
        );
        if (topUp > 0) {
          const lotId = `lot_${randomUUID().replaceAll('-', '')}`;
          await tx.run(
            `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, expires_at, cycle_key, created_at)
             VALUES (?, ?, 'ai_tokens', 'plan_allowance', ?, ?, ?, ?, ?)`,
            [
              lotId,
              input.workspaceId,
              topUp,
              topUp,
              input.cycle.end,
              `${input.cycle.key}+${lotId}`,
              input.now,
            ],
          );
          await w.entry({
            type: 'grant',
            amount: topUp,
            availableDelta: topUp,
            heldDelta: 0,
            actor: input.actor,
            description: `Upgrade to ${input.plan.name}: AI Tokens for the rest of this cycle`,
            lots: [{ lotId, amount: topUp }],
            now: input.now,
          });
          await w.save(input.now);
        }
        const answer = {
          plan: input.plan.id,
          pendingPlan: null,
          effective: 'now' as const,
          toppedUp: topUp,
        };
        await audit(answer);
        return answer;
      },
    );
  }

  async pendingPlan(workspaceId: string): Promise<string | null> {
    const row = await this.driver.read.get<{ p: string | null }>(
      `SELECT pending_plan AS "p" FROM workspaces WHERE id = ?`,
      [workspaceId],
    );
    return row?.p ?? null;
  }

  /** Apply a pending downgrade (at a reset): once, only if it is still pending. */
  applyPendingPlan(input: { workspaceId: string; now: number }): Promise<string | null> {
    return this.driver.write(async (tx) => {
      const row = await tx.get<{ p: string | null }>(
        `SELECT pending_plan AS "p" FROM workspaces WHERE id = ? ${this.driver.lockRows}`,
        [input.workspaceId],
      );
      if (!row?.p) return null;
      // The features of the plan applied, as stored now.
      const plan = await tx.get<{ features: string }>(`SELECT features FROM plans WHERE id = ?`, [
        row.p,
      ]);
      await tx.run(
        `UPDATE workspaces SET plan = ?, features = ?, pending_plan = NULL WHERE id = ?`,
        [row.p, plan?.features ?? '[]', input.workspaceId],
      );
      await writeAudit(
        tx,
        {
          actor: 'system:cycle',
          action: 'workspace.plan.apply_pending',
          target: `workspace:${input.workspaceId}`,
          workspaceId: input.workspaceId,
          after: { plan: row.p },
        },
        input.now,
      );
      return row.p;
    });
  }

  /** The latest cycle a workspace's AI Token allowance was granted for (its key), if any. */
  async lastAllowanceCycle(workspaceId: string): Promise<string | null> {
    const row = await this.driver.read.get<{ k: string | null }>(
      `SELECT MAX(cycle_key) AS "k" FROM lots WHERE workspace_id = ? AND wallet = 'ai_tokens' AND source = 'plan_allowance' AND cycle_key NOT LIKE '%+%'`,
      [workspaceId],
    );
    return row?.k ?? null;
  }

  /** Allowance granted and tokens spent in the AI wallet since `since`. */
  async cycleUsage(input: {
    workspaceId: string;
    cycleKey: string;
    since: number;
  }): Promise<{ planLimit: number; usedThisCycle: number }> {
    const [granted, spent] = await Promise.all([
      this.driver.read.get<{ n: number | null }>(
        `SELECT SUM(granted) AS n FROM lots WHERE workspace_id = ? AND wallet = 'ai_tokens' AND source = 'plan_allowance'
           AND (cycle_key = ? OR cycle_key LIKE ?)`,
        [input.workspaceId, input.cycleKey, `${input.cycleKey}+%`],
      ),
      this.driver.read.get<{ n: number | null }>(
        `SELECT SUM(-amount) AS n FROM ledger_entries WHERE workspace_id = ? AND wallet = 'ai_tokens' AND type = 'spend' AND created_at >= ?`,
        [input.workspaceId, input.since],
      ),
    ]);
    return { planLimit: Number(granted?.n ?? 0), usedThisCycle: Number(spent?.n ?? 0) };
  }

  /** Spend entries in a window, for charts. */
  async spendEntries(input: {
    workspaceId: string;
    wallet?: WalletKind;
    from: number;
    to: number;
  }): Promise<{ wallet: WalletKind; amount: number; createdAt: number }[]> {
    const rows = await this.driver.read.all<{
      wallet: WalletKind;
      amount: number;
      createdAt: number;
    }>(
      `SELECT wallet, -amount AS "amount", created_at AS "createdAt" FROM ledger_entries
       WHERE workspace_id = ? AND type = 'spend' AND created_at >= ? AND created_at < ? ${input.wallet ? 'AND wallet = ?' : ''}
       ORDER BY id LIMIT 200000`,
      input.wallet
        ? [input.workspaceId, input.from, input.to, input.wallet]
        : [input.workspaceId, input.from, input.to],
    );
    return rows.map((r) => ({
      wallet: r.wallet,
      amount: Number(r.amount),
      createdAt: Number(r.createdAt),
    }));
  }
}
