import {
  CreditsError,
  WALLET_KINDS,
  type Pack,
  type Plan,
  type WalletCatalogEntry,
  type WalletKind,
} from '@credits/domain';
import { writeAudit } from '../audit-log.js';
import type { AuditInput } from '../account-types.js';
import { BillingPart } from './part.js';

/** Plans, packs and the wallet catalog (reference data admins edit; every edit audited). */
export class CatalogStore extends BillingPart {
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
}
