import { assertCredits, type EntryType, type LotSource, type WalletKind } from '@credits/domain';
import { newId } from '../ids.js';
import type { GrantInput, GrantResult } from '../types.js';
import type { MoneyContext } from './context.js';

/** Credits in (a new lot per grant) and credits out by time (lots past their expiry). */

const ENTRY_OF_SOURCE: Record<LotSource, EntryType> = {
  plan_allowance: 'grant',
  promo: 'grant',
  purchase: 'purchase',
  trial: 'trial',
  adjustment: 'adjustment',
};

export function grant(m: MoneyContext, input: GrantInput): Promise<GrantResult> {
  assertCredits(input.amount);
  if (input.amount === 0) throw new Error('a grant must be positive');
  return m.idempotent(
    {
      // System grants (allowances, the trial) keep their keys apart from callers' keys, so
      // no caller can take the key of a grant the system will make.
      scope: input.system ? `_system:${input.workspaceId}` : input.workspaceId,
      key: input.idempotencyKey,
      operation: 'grant',
      requestHash: input.requestHash,
      now: input.now,
      audit: input.audit,
    },
    async (tx) => {
      const w = await m.ltx(tx).openWallet(input.workspaceId, input.wallet);
      const lotId = newId('lot');
      await tx.run(
        `INSERT INTO lots (id, workspace_id, wallet, source, granted, remaining, expires_at,
          restriction, order_id, cycle_key, created_at)
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
        [
          lotId,
          input.workspaceId,
          input.wallet,
          input.source,
          input.amount,
          input.amount,
          input.expiresAt ?? null,
          input.restriction ?? null,
          input.orderId ?? null,
          input.cycleKey ?? null,
          input.now,
        ],
      );
      await w.entry({
        type: ENTRY_OF_SOURCE[input.source],
        amount: input.amount,
        availableDelta: input.amount,
        heldDelta: 0,
        orderId: input.orderId ?? null,
        actor: input.actor,
        description: input.description,
        lots: [{ lotId, amount: input.amount }],
        now: input.now,
      });
      const after = await w.save(input.now);
      return { lotId, wallet: input.wallet, amount: input.amount, balance: after.available };
    },
  );
}

export async function expireLots(
  m: MoneyContext,
  input: { now: number; workspaceId?: string; limit?: number },
): Promise<number> {
  const params: unknown[] = [input.now];
  let where = `expires_at <= ? AND expired_at IS NULL AND remaining > 0`;
  if (input.workspaceId) {
    where += ` AND workspace_id = ?`;
    params.push(input.workspaceId);
  }
  params.push(input.limit ?? 500);
  const due = await m.driver.read.all<{ workspaceId: string; wallet: WalletKind }>(
    `SELECT DISTINCT workspace_id AS "workspaceId", wallet FROM lots WHERE ${where} LIMIT ?`,
    params,
  );
  const counts = await Promise.all(
    due.map((d) =>
      m.driver.write(async (tx) => {
        const w = await m.ltx(tx).openWallet(d.workspaceId, d.wallet);
        const before = w.available;
        await m.ltx(tx).liveLots(w, input.now, 'system:sweeper');
        await w.save(input.now);
        return before - w.available;
      }),
    ),
  );
  return counts.reduce((a, b) => a + b, 0);
}
