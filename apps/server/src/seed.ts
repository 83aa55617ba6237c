import { createCaller, hashPassword, workspaceServices, type RulesService } from '@credits/api';
import type { Store } from '@credits/store';

export const DEMO_WORKSPACE_ID = 'demo';

/** Demo-only sign-ins, stated in the README. Never created by a production start. */
export const DEMO_USERS = [
  {
    email: 'owner@demo.test',
    password: 'demo-owner-password',
    name: 'Demo Owner',
    role: 'owner',
    isAdmin: false,
  },
  {
    email: 'member@demo.test',
    password: 'demo-member-password',
    name: 'Demo Member',
    role: 'member',
    isAdmin: false,
  },
  {
    email: 'admin@demo.test',
    password: 'demo-admin-password',
    name: 'Demo Admin',
    role: null,
    isAdmin: true,
  },
] as const;

/**
 * The demo workspace: Pro plan (the free video trial, Video Edit), credits in every wallet,
 * an owner, a member and a platform admin. Every write has a fixed idempotency key or checks
 * first (and again after losing a race), so seeding twice, or from several processes at the
 * same instant, changes nothing and fails none of them.
 */
export async function seedDemo(input: { store: Store; rules: RulesService; now: number }) {
  const caller = createCaller({
    store: input.store,
    rules: input.rules,
    ...workspaceServices({ store: input.store, clock: () => input.now }),
    now: () => input.now,
    caller: { kind: 'service', id: 'system:seed', scopes: ['admin'] },
    config: { holdTtlMs: 3_600_000 },
  });
  const created = await caller.admin.workspaces.create({
    id: DEMO_WORKSPACE_ID,
    name: 'Demo workspace',
    plan: 'pro',
    idempotencyKey: 'seed-demo-workspace',
  });
  const grants = [
    {
      wallet: 'image_credits',
      amount: 500,
      source: 'purchase',
      reason: 'Image Credits pack (demo)',
    },
    {
      wallet: 'video_credits',
      amount: 200,
      source: 'purchase',
      reason: 'Video Credits pack (demo)',
    },
  ] as const;
  for (const g of grants) {
    await caller.admin.ledger.grant({
      workspaceId: DEMO_WORKSPACE_ID,
      wallet: g.wallet,
      amount: g.amount,
      source: g.source,
      reason: g.reason,
      idempotencyKey: `seed-demo-${g.wallet}`,
    });
  }
  for (const u of DEMO_USERS) {
    // Several processes may seed at the same instant: whoever loses a race to create the
    // user or the membership finds the winner's row and goes on (check, act, check again).
    let user = await input.store.accounts.userByEmail(u.email);
    if (!user) {
      await input.store.accounts
        .createUser({
          email: u.email,
          name: u.name,
          passwordHash: await hashPassword(u.password),
          isAdmin: u.isAdmin,
          now: input.now,
          audit: { actor: 'system:seed', action: 'user.create', target: '' },
        })
        .catch(async (err: unknown) => {
          if (!(await input.store.accounts.userByEmail(u.email))) throw err;
        });
      user = await input.store.accounts.userByEmail(u.email);
    }
    const role = () =>
      input.store.accounts.role({ workspaceId: DEMO_WORKSPACE_ID, userId: user!.id });
    if (user && u.role && (await role()) === null) {
      await input.store.accounts
        .addMember({
          workspaceId: DEMO_WORKSPACE_ID,
          userId: user.id,
          role: u.role,
          now: input.now,
          audit: {
            actor: 'system:seed',
            action: 'workspace.member.add',
            target: `user:${user.id}`,
            workspaceId: DEMO_WORKSPACE_ID,
          },
        })
        .catch(async (err: unknown) => {
          if ((await role()) === null) throw err;
        });
    }
  }
  return created.workspace;
}
