import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TRPCError } from '@trpc/server';
import { ZodError } from 'zod';
import { CreditsError } from '@credits/domain';
import { defaultRuleDocument } from '@credits/rules';
import type { Store } from '@credits/store';
import { DIALECTS, type DialectFixture } from '@credits/store/testing';
import {
  appRouter,
  createCaller,
  hashPassword,
  newApiKey,
  RulesService,
  sha256,
  workspaceServices,
  type Caller,
  type Context,
  type PaymentGateway,
} from '../src/index.js';
import { HOUR, T0, key, paymentOf } from './factory.js';

/**
 * The authorization matrix (issue 4, "Must show"): every procedure of `appRouter` × every kind
 * of caller × {A's ids, B's ids, random ids, A's workspace with B's object ids}, called through
 * `createCaller(ctx)`. The expected outcome comes from the table below (what SPEC 10 says each
 * caller may do), never from `mayAccess`, so a bug there cannot excuse itself.
 *
 * Counted and asserted zero:
 * - cross-tenant calls accepted: a caller bound to one workspace (a member, an owner, a
 *   workspace key) got past access control on another workspace's id; or any call naming
 *   workspace A changed something in workspace B (B's hold, key or member id passed to A);
 * - non-admin calls to admin procedures accepted;
 * - anonymous calls to non-public procedures accepted;
 * - refused calls that changed state (a content snapshot of both workspaces: wallets, ledger,
 *   jobs, lots, members, keys, invitations, orders, notifications, plan; the service keys, the audit log
 *   head, plans, packs, catalogue, rule versions and draft, everyone's memberships; and the
 *   store's write counter: a refused call must not even open a write transaction).
 *
 * Both dialects run the full matrix (it takes a few seconds on PostgreSQL too).
 */

// ------------------------------------------------------------------ expectations

/** The access levels this test knows. A new one fails the default-deny test until it is added here. */
const KNOWN_ACCESS = [
  'public',
  'user',
  'workspace:read',
  'workspace:use',
  'workspace:owner',
  'workspace:service',
  'admin',
] as const;
type KnownAccess = (typeof KNOWN_ACCESS)[number];

type Right = 'read' | 'use' | 'owner';
const RANK: Record<Right, number> = { read: 1, use: 2, owner: 3 };

/** Which workspace the call names, and where the object ids (hold, key, member) in its input come from. */
type TargetName = 'A' | 'B' | 'random' | 'A with B ids';
const TARGETS: readonly TargetName[] = ['A', 'B', 'random', 'A with B ids'];
/** The workspace the call names, as the expectation table sees it. */
const NAMED: Record<TargetName, 'A' | 'B' | 'random'> = {
  A: 'A',
  B: 'B',
  random: 'random',
  'A with B ids': 'A',
};

type ProfileName =
  | 'anonymous'
  | 'owner of A'
  | 'member of A'
  | 'member of B'
  | 'workspace key of B'
  | 'service key, no scopes'
  | 'service key, wallets:read only'
  | 'service key, usage:write'
  | 'admin user';

interface Profile {
  /** A signed-in person (may call `user` procedures). */
  user: boolean;
  /** A platform admin (may call `admin` procedures and act on any workspace). */
  admin: boolean;
  /** The one workspace this caller is bound to, or null for callers that are not tenants. */
  tenant: 'A' | 'B' | null;
  /** Its right on each workspace; absent means none. */
  rights: Partial<Record<'A' | 'B' | 'random', Right>>;
}

/** SPEC 10, written out: owners buy and manage keys, members use and read, keys act within their scopes. */
const PROFILES: Record<ProfileName, Profile> = {
  anonymous: { user: false, admin: false, tenant: null, rights: {} },
  'owner of A': { user: true, admin: false, tenant: 'A', rights: { A: 'owner' } },
  'member of A': { user: true, admin: false, tenant: 'A', rights: { A: 'use' } },
  'member of B': { user: true, admin: false, tenant: 'B', rights: { B: 'use' } },
  'workspace key of B': { user: false, admin: false, tenant: 'B', rights: { B: 'use' } },
  'service key, no scopes': { user: false, admin: false, tenant: null, rights: {} },
  'service key, wallets:read only': {
    user: false,
    admin: false,
    tenant: null,
    rights: { A: 'read', B: 'read', random: 'read' },
  },
  'service key, usage:write': {
    user: false,
    admin: false,
    tenant: null,
    rights: { A: 'use', B: 'use', random: 'use' },
  },
  'admin user': {
    user: true,
    admin: true,
    tenant: null,
    rights: { A: 'owner', B: 'owner', random: 'owner' },
  },
};
const PROFILE_NAMES = Object.keys(PROFILES) as ProfileName[];

type Expected = 'allowed' | 'UNAUTHORIZED' | 'FORBIDDEN';

function expectedOutcome(
  access: KnownAccess,
  profileName: ProfileName,
  target: TargetName,
): Expected {
  const p = PROFILES[profileName];
  if (access === 'public') return 'allowed';
  if (profileName === 'anonymous') return 'UNAUTHORIZED';
  switch (access) {
    case 'user':
      return p.user ? 'allowed' : 'FORBIDDEN';
    case 'admin':
      return p.admin ? 'allowed' : 'FORBIDDEN';
    case 'workspace:service':
      // Platform admins, and service keys (no tenant) that may use the workspace.
      return p.admin || (p.tenant === null && !p.user && p.rights[NAMED[target]] === 'use')
        ? 'allowed'
        : 'FORBIDDEN';
    case 'workspace:read':
    case 'workspace:use':
    case 'workspace:owner': {
      const need = access.slice('workspace:'.length) as Right;
      const has = p.rights[NAMED[target]];
      return has !== undefined && RANK[has] >= RANK[need] ? 'allowed' : 'FORBIDDEN';
    }
  }
}

// ------------------------------------------------------------------ the router, enumerated

interface ProcedureInfo {
  path: string;
  type: string;
  access: unknown;
}

/** Walk `appRouter._def.record` recursively: every procedure, wherever it is mounted. */
function enumerate(record: Record<string, unknown>, prefix = ''): ProcedureInfo[] {
  const out: ProcedureInfo[] = [];
  for (const [name, value] of Object.entries(record)) {
    const path = prefix ? `${prefix}.${name}` : name;
    const def = (
      value as {
        _def?: {
          procedure?: boolean;
          type?: string;
          meta?: { access?: unknown };
          record?: Record<string, unknown>;
        };
      }
    )._def;
    if (def?.procedure) out.push({ path, type: def.type ?? '?', access: def.meta?.access });
    else if (def?.record) out.push(...enumerate(def.record, path));
    else if (value && typeof value === 'object')
      out.push(...enumerate(value as Record<string, unknown>, path));
    else throw new Error(`${path} is neither a procedure nor a router`);
  }
  return out;
}

const PROCEDURES = enumerate(appRouter._def.record as Record<string, unknown>);

// ------------------------------------------------------------------ fixture

const PASSWORD = 'correct horse battery staple';
const video5s = { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' } as const;
/** A payment provider that answers at once; `paidOrderIn` then pays through the store's webhook path. */
const SANDBOX: PaymentGateway = {
  provider: 'matrix-sandbox',
  createSession: ({ order }) =>
    Promise.resolve({ session: `cs_${order.id}`, url: `https://pay.example/${order.id}` }),
  createSetupSession: ({ workspaceId }) =>
    Promise.resolve({ session: `setup_${workspaceId}`, url: `https://pay.example/setup` }),
};
const SETUP: Caller = {
  kind: 'service',
  id: 'service:matrix-setup',
  scopes: ['wallets:read', 'usage:write', 'admin'],
};

interface Fixture {
  store: Store;
  rules: RulesService;
  ctx: Omit<Context, 'caller'>;
  /** An all-scopes caller for preconditions (holds to capture, keys to revoke); never under test. */
  setup: ReturnType<typeof createCaller>;
  A: string;
  B: string;
  users: Record<
    'owner of A' | 'member of A' | 'member of B' | 'admin user' | 'bystander',
    { id: string; email: string }
  >;
  callers: Record<ProfileName, Caller | null>;
  cleanup(): Promise<void>;
}

async function buildFixture(dialect: DialectFixture): Promise<Fixture> {
  const { store, cleanup } = await dialect.make();
  const now = () => T0;
  const rules = new RulesService(store, { refreshMs: 0, clock: now });
  await rules.seed(now());
  const ctx: Omit<Context, 'caller'> = {
    store,
    rules,
    ...workspaceServices({ store, clock: now }),
    now,
    config: { holdTtlMs: HOUR },
    payments: SANDBOX,
  };
  const setup = createCaller({ ...ctx, caller: SETUP });

  const A = (
    await setup.admin.workspaces.create({
      name: 'Workspace A',
      plan: 'pro',
      idempotencyKey: key('ws'),
    })
  ).workspace.id;
  const B = (
    await setup.admin.workspaces.create({
      name: 'Workspace B',
      plan: 'pro',
      idempotencyKey: key('ws'),
    })
  ).workspace.id;
  for (const ws of [A, B]) {
    await setup.admin.ledger.grant({
      workspaceId: ws,
      wallet: 'video_credits',
      amount: 1_000_000,
      source: 'purchase',
      reason: 'Matrix top-up',
      idempotencyKey: key('grant'),
    });
  }

  const passwordHash = await hashPassword(PASSWORD);
  const makeUser = async (label: string, isAdmin = false) => {
    const email = `${label.replaceAll(' ', '-')}-${randomUUID().slice(0, 8)}@example.com`;
    const u = await store.accounts.createUser({
      email,
      name: label,
      passwordHash,
      isAdmin,
      now: now(),
    });
    return { id: u.id, email: u.email };
  };
  const users = {
    'owner of A': await makeUser('owner a'),
    'member of A': await makeUser('member a'),
    'member of B': await makeUser('member b'),
    'admin user': await makeUser('admin', true),
    bystander: await makeUser('bystander'),
  };
  const audit = { actor: 'matrix-setup', action: 'workspace.member.add', target: 'setup' };
  await store.accounts.addMember({
    workspaceId: A,
    userId: users['owner of A'].id,
    role: 'owner',
    now: now(),
    audit,
  });
  await store.accounts.addMember({
    workspaceId: A,
    userId: users['member of A'].id,
    role: 'member',
    now: now(),
    audit,
  });
  await store.accounts.addMember({
    workspaceId: B,
    userId: users['member of B'].id,
    role: 'member',
    now: now(),
    audit,
  });

  const userCaller = async (u: { id: string; email: string }, isAdmin = false): Promise<Caller> => {
    const tokenHash = sha256(randomUUID());
    await store.accounts.createSession({
      tokenHash,
      userId: u.id,
      now: now(),
      expiresAt: now() + HOUR,
    });
    return {
      kind: 'user',
      id: `user:${u.id}`,
      userId: u.id,
      email: u.email,
      isAdmin,
      sessionTokenHash: tokenHash,
    };
  };
  const apiKey = async (
    kind: 'workspace' | 'service',
    workspaceId: string | null,
    scopes: string[],
  ) => {
    const { key: secret, prefix } = newApiKey(kind);
    return store.accounts.createApiKey({
      id: `key_${randomUUID().replaceAll('-', '')}`,
      keyHash: sha256(secret),
      prefix,
      kind,
      workspaceId,
      scopes,
      name: `matrix ${kind} ${scopes.join(' ') || 'no scopes'}`,
      createdBy: 'matrix-setup',
      now: now(),
      audit: { actor: 'matrix-setup', action: 'api_key.create', target: '' },
    });
  };
  // Callers exactly as the server's auth middleware builds them from a session or a key.
  const keyOfB = await apiKey('workspace', B, ['wallets:read', 'usage:write']);
  const service = async (scopes: string[]): Promise<Caller> => {
    const k = await apiKey('service', null, scopes);
    return { kind: 'service', id: `key:${k.id}`, keyId: k.id, scopes: k.scopes };
  };
  const callers: Record<ProfileName, Caller | null> = {
    anonymous: null,
    'owner of A': await userCaller(users['owner of A']),
    'member of A': await userCaller(users['member of A']),
    'member of B': await userCaller(users['member of B']),
    'workspace key of B': {
      kind: 'workspace_key',
      id: `key:${keyOfB.id}`,
      keyId: keyOfB.id,
      workspaceId: B,
      scopes: keyOfB.scopes,
    },
    'service key, no scopes': await service([]),
    'service key, wallets:read only': await service(['wallets:read']),
    'service key, usage:write': await service(['usage:write']),
    'admin user': await userCaller(users['admin user'], true),
  };
  return { store, rules, ctx, setup, A, B, users, callers, cleanup };
}

// ------------------------------------------------------------------ input factories

interface Target {
  fx: Fixture;
  /** The workspace id the call names. */
  workspaceId: string;
  /** The workspace whose holds, keys and members the input refers to; null: random ids. */
  objectsOf: string | null;
}
type InputFactory = (t: Target) => unknown;

const missing = (prefix: string) => `${prefix}_missing_${randomUUID().replaceAll('-', '')}`;

/** A live hold in the objects' workspace (made by the setup caller before the snapshot). */
async function holdIn(t: Target): Promise<string> {
  if (t.objectsOf === null) return missing('job');
  const r = await t.fx.setup.usage.reserve({
    workspaceId: t.objectsOf,
    job: video5s,
    idempotencyKey: key('hold'),
  });
  return r.holdId;
}

/** A pack on sale (the seeded catalogue). */
async function packId(fx: Fixture): Promise<string> {
  const pack = (await fx.store.billing.packs({})).at(0);
  if (!pack) throw new Error('the store has no pack on sale');
  return pack.id;
}

/** A pending order in the objects' workspace, checked out by the setup caller. */
async function orderIn(t: Target): Promise<string> {
  if (t.objectsOf === null) return missing('ord');
  const r = await t.fx.setup.billing.checkout({
    workspaceId: t.objectsOf,
    packId: await packId(t.fx),
    idempotencyKey: key('order'),
  });
  return r.orderId;
}

/** A paid order (its credits in the wallet), paid through the store's payment-event path. */
async function paidOrderIn(t: Target): Promise<string> {
  const orderId = await orderIn(t);
  if (t.objectsOf === null) return orderId;
  const paid = await t.fx.store.billing.applyPaymentEvent({
    provider: SANDBOX.provider,
    eventId: key('evt'),
    type: 'checkout.session.completed',
    session: `cs_${orderId}`,
    outcome: 'paid',
    payment: await paymentOf(t.fx.store, orderId),
    now: t.fx.ctx.now(),
  });
  if (paid.result !== 'paid') throw new Error(`could not pay ${orderId}: ${paid.result}`);
  return orderId;
}

/** A fresh unread notification in the objects' workspace: Image Credits topped up, then adjusted down past "low". */
async function notificationIn(t: Target): Promise<number> {
  if (t.objectsOf === null) return 2_000_000_000;
  const ws = t.objectsOf;
  const reason = 'Matrix notification';
  await t.fx.setup.admin.ledger.grant({
    workspaceId: ws,
    wallet: 'image_credits',
    amount: 100,
    reason,
    idempotencyKey: key('n'),
  });
  const balance =
    (await t.fx.store.wallets(ws)).find((w) => w.kind === 'image_credits')?.available ?? 0;
  await t.fx.setup.admin.ledger.adjust({
    workspaceId: ws,
    wallet: 'image_credits',
    amount: -(balance - 5),
    reason,
    idempotencyKey: key('n'),
  });
  const [latest] = await t.fx.store.billing.notifications({
    workspaceId: ws,
    unreadOnly: true,
    limit: 1,
  });
  if (!latest) throw new Error(`no low-balance notification in ${ws}`);
  return latest.id;
}

/** An open invitation in the objects' workspace (made by the setup caller before the snapshot). */
async function invitationIn(t: Target): Promise<string> {
  if (t.objectsOf === null) return missing('inv');
  const made = await t.fx.setup.invitations.create({
    workspaceId: t.objectsOf,
    email: `invitee-${randomUUID()}@example.com`,
  });
  return made.invitation.id;
}

/** A saved payment method in a workspace (as the provider's webhook would save it). */
async function methodIn(fx: Fixture, workspaceId: string): Promise<void> {
  await fx.store.autoTopUp.savePaymentMethod({
    workspaceId,
    provider: SANDBOX.provider,
    customerRef: null,
    methodRef: `pm_${randomUUID()}`,
    label: 'Matrix card',
    createdBy: 'matrix-setup',
    now: fx.ctx.now(),
  });
}

const TOP_UP = {
  wallet: 'video_credits',
  packId: 'video-200',
  threshold: 10,
  monthlyCapCents: 5000,
} as const;

/** Auto top-up on in the objects' workspace (a saved method, consent to the terms). */
async function autoTopUpIn(t: Target): Promise<void> {
  if (t.objectsOf === null) return;
  await methodIn(t.fx, t.objectsOf);
  const { terms } = await t.fx.setup.autoTopUp.terms({ workspaceId: t.objectsOf, ...TOP_UP });
  await t.fx.setup.autoTopUp.enable({ workspaceId: t.objectsOf, ...TOP_UP, acceptedTerms: terms });
}

/**
 * A plausible valid input for every procedure, keyed by path. A procedure with no entry here
 * fails its test: a new procedure cannot slip through the matrix untested.
 */
const INPUTS: Record<string, InputFactory> = {
  'health.check': () => undefined,

  'auth.signUp': () => ({
    email: `signup-${randomUUID()}@example.com`,
    password: PASSWORD,
    name: 'Matrix sign-up',
  }),
  'auth.signIn': ({ fx }) => ({ email: fx.users.bystander.email, password: PASSWORD }),
  'auth.signOut': () => ({}),
  'auth.me': () => undefined,
  'auth.sessions': () => undefined,
  'auth.revokeSession': () => ({ id: 'no-such-session' }),
  'auth.signOutEverywhere': () => ({}),
  'auth.changePassword': () => ({
    currentPassword: 'not the password',
    newPassword: 'velvet-otter-canyon-42',
  }),
  'auth.resetPassword': () => ({ token: 'x'.repeat(43), newPassword: 'velvet-otter-canyon-42' }),
  'auth.securityEvents': () => undefined,

  'workspaces.get': ({ workspaceId }) => ({ workspaceId }),
  'workspaces.members': ({ workspaceId }) => ({ workspaceId }),
  'workspaces.addMember': ({ fx, workspaceId }) => ({
    workspaceId,
    email: fx.users.bystander.email,
    role: 'member',
  }),
  // A real member of the objects' workspace, so a wrongly accepted call would show as a change.
  'workspaces.removeMember': async (t) => {
    if (t.objectsOf === null) return { workspaceId: t.workspaceId, userId: missing('usr') };
    const bystander = t.fx.users.bystander;
    await t.fx.setup.workspaces.addMember({
      workspaceId: t.objectsOf,
      email: bystander.email,
      role: 'member',
    });
    return { workspaceId: t.workspaceId, userId: bystander.id };
  },
  // A fresh member of the objects' workspace each time (made an owner when a call is accepted,
  // so it must not be the bystander that other cases demote and remove).
  'workspaces.setRole': async (t) => {
    if (t.objectsOf === null)
      return { workspaceId: t.workspaceId, userId: missing('usr'), role: 'owner' };
    const fresh = await t.fx.store.accounts.createUser({
      email: `role-${randomUUID()}@example.com`,
      name: 'Matrix role change',
      passwordHash: 'x',
      isAdmin: false,
      now: t.fx.ctx.now(),
    });
    await t.fx.setup.workspaces.addMember({
      workspaceId: t.objectsOf,
      email: fresh.email,
      role: 'member',
    });
    return { workspaceId: t.workspaceId, userId: fresh.id, role: 'owner' };
  },
  'workspaces.keys.create': ({ workspaceId }) => ({ workspaceId, name: 'matrix key' }),
  'workspaces.keys.list': ({ workspaceId }) => ({ workspaceId }),
  'workspaces.keys.revoke': async (t) => {
    if (t.objectsOf === null) return { workspaceId: t.workspaceId, keyId: missing('key') };
    const made = await t.fx.setup.workspaces.keys.create({
      workspaceId: t.objectsOf,
      name: 'to revoke',
    });
    return { workspaceId: t.workspaceId, keyId: made.record.id };
  },

  'invitations.list': ({ workspaceId }) => ({ workspaceId }),
  'invitations.create': ({ workspaceId }) => ({
    workspaceId,
    email: `invitee-${randomUUID()}@example.com`,
  }),
  // An open invitation in the objects' workspace, named through the workspace under test.
  'invitations.resend': async (t) => ({
    workspaceId: t.workspaceId,
    invitationId: await invitationIn(t),
  }),
  'invitations.revoke': async (t) => ({
    workspaceId: t.workspaceId,
    invitationId: await invitationIn(t),
  }),
  'invitations.preview': () => ({ token: 'x'.repeat(43) }),
  'invitations.accept': () => ({ token: 'x'.repeat(43) }),

  'wallets.list': ({ workspaceId }) => ({ workspaceId }),
  'wallets.get': ({ workspaceId }) => ({ workspaceId, wallet: 'video_credits' }),

  'usage.quote': ({ workspaceId }) => ({ workspaceId, job: video5s }),
  'usage.reserve': ({ workspaceId }) => ({
    workspaceId,
    job: video5s,
    idempotencyKey: key('reserve'),
  }),
  'usage.capture': async (t) => ({
    workspaceId: t.workspaceId,
    holdId: await holdIn(t),
    idempotencyKey: key('capture'),
  }),
  'usage.release': async (t) => ({
    workspaceId: t.workspaceId,
    holdId: await holdIn(t),
    idempotencyKey: key('release'),
  }),
  'usage.charge': ({ workspaceId }) => ({
    workspaceId,
    job: { kind: 'ai', tokens: 100 },
    idempotencyKey: key('charge'),
  }),
  'usage.refund': ({ workspaceId }) => ({
    workspaceId,
    jobId: 'job_matrix',
    credits: 1,
    reason: 'Access matrix',
    idempotencyKey: key('refund'),
  }),
  'usage.history': ({ workspaceId }) => ({ workspaceId, limit: 10 }),
  'usage.jobs': ({ workspaceId }) => ({ workspaceId, limit: 10 }),
  'usage.summary': ({ workspaceId }) => ({ workspaceId }),

  'billing.packs': ({ workspaceId }) => ({ workspaceId }),
  'billing.checkout': async (t) => ({
    workspaceId: t.workspaceId,
    packId: await packId(t.fx),
    idempotencyKey: key('checkout'),
  }),
  'billing.orders': ({ workspaceId }) => ({ workspaceId }),
  'billing.order': async (t) => ({ workspaceId: t.workspaceId, orderId: await orderIn(t) }),

  'receipts.get': async (t) => ({ workspaceId: t.workspaceId, orderId: await paidOrderIn(t) }),

  'plans.list': ({ workspaceId }) => ({ workspaceId }),
  // Business is an upgrade from the seeded plans (VALIDATION once an admin case made it current).
  'plans.checkout': ({ workspaceId }) => ({
    workspaceId,
    plan: 'business',
    idempotencyKey: key('plan-checkout'),
  }),
  'plans.scheduleDowngrade': ({ workspaceId }) => ({
    workspaceId,
    plan: 'free',
    idempotencyKey: key('plan-down'),
  }),
  'plans.cancelDowngrade': ({ workspaceId }) => ({ workspaceId }),

  'notifications.list': ({ workspaceId }) => ({ workspaceId }),
  'notifications.markRead': async (t) => ({
    workspaceId: t.workspaceId,
    ids: [await notificationIn(t)],
  }),
  'notifications.setWebhook': ({ workspaceId }) => ({
    workspaceId,
    url: 'https://hooks.example/matrix',
  }),
  'notifications.webhook': ({ workspaceId }) => ({ workspaceId }),
  'notifications.lowThresholds': ({ workspaceId }) => ({ workspaceId }),
  'notifications.setLowThreshold': ({ workspaceId }) => ({
    workspaceId,
    wallet: 'video_credits',
    lowThreshold: 1_000,
  }),
  // A webhook is set in the objects' workspace, so an accepted call would rotate or queue.
  'notifications.rotateWebhookSecret': async (t) => {
    if (t.objectsOf !== null)
      await t.fx.setup.notifications.setWebhook({
        workspaceId: t.objectsOf,
        url: 'https://hooks.example/matrix',
      });
    return { workspaceId: t.workspaceId };
  },
  'notifications.resend': async (t) => {
    if (t.objectsOf !== null)
      await t.fx.setup.notifications.setWebhook({
        workspaceId: t.objectsOf,
        url: 'https://hooks.example/matrix',
      });
    return { workspaceId: t.workspaceId, notificationId: await notificationIn(t) };
  },

  'spending.limits': ({ workspaceId }) => ({ workspaceId }),
  'spending.setLimit': ({ workspaceId }) => ({
    workspaceId,
    wallet: 'video_credits',
    scope: 'workspace',
    amount: 1000,
    mode: 'hard',
  }),
  // A key's limit in the objects' workspace, removed by naming the workspace under test.
  'spending.removeLimit': async (t) => {
    if (t.objectsOf === null)
      return {
        workspaceId: t.workspaceId,
        wallet: 'video_credits',
        scope: 'key',
        subjectId: missing('key'),
      };
    const made = await t.fx.setup.workspaces.keys.create({
      workspaceId: t.objectsOf,
      name: 'limited',
    });
    await t.fx.setup.spending.setLimit({
      workspaceId: t.objectsOf,
      wallet: 'video_credits',
      scope: 'key',
      subjectId: made.record.id,
      amount: 100,
      mode: 'hard',
    });
    return {
      workspaceId: t.workspaceId,
      wallet: 'video_credits',
      scope: 'key',
      subjectId: made.record.id,
    };
  },

  'autoTopUp.get': ({ workspaceId }) => ({ workspaceId }),
  'autoTopUp.terms': ({ workspaceId }) => ({ workspaceId, ...TOP_UP }),
  'autoTopUp.enable': async (t) => {
    if (t.workspaceId === t.fx.A || t.workspaceId === t.fx.B) await methodIn(t.fx, t.workspaceId);
    const { terms } = await t.fx.setup.autoTopUp.terms({ workspaceId: t.fx.A, ...TOP_UP });
    return { workspaceId: t.workspaceId, ...TOP_UP, acceptedTerms: terms };
  },
  'autoTopUp.disable': async (t) => {
    await autoTopUpIn(t);
    return { workspaceId: t.workspaceId, wallet: TOP_UP.wallet };
  },
  'autoTopUp.setupPaymentMethod': ({ workspaceId }) => ({ workspaceId }),
  'autoTopUp.removePaymentMethod': async (t) => {
    if (t.objectsOf !== null) await methodIn(t.fx, t.objectsOf);
    return { workspaceId: t.workspaceId };
  },

  'admin.workspaces.create': () => ({
    name: 'Matrix workspace',
    plan: 'free',
    idempotencyKey: key('ws'),
  }),
  'admin.workspaces.get': ({ workspaceId }) => ({ workspaceId }),
  'admin.workspaces.search': () => ({ query: 'Workspace' }),
  'admin.workspaces.setPlan': ({ workspaceId }) => ({
    workspaceId,
    plan: 'business',
    reason: 'Matrix upgrade',
    idempotencyKey: key('plan'),
  }),
  'admin.plans.list': () => undefined,
  'admin.plans.save': () => ({
    id: 'matrix',
    name: 'Matrix',
    aiTokensPerCycle: 1000,
    priceCents: 0,
    features: [],
    trialEligible: false,
  }),
  'admin.plans.retire': async ({ fx }) => {
    const id = `retire_${randomUUID().slice(0, 8)}`;
    await fx.setup.admin.plans.save({
      id,
      name: 'To retire',
      aiTokensPerCycle: 0,
      priceCents: 0,
      features: [],
      trialEligible: false,
    });
    return { id };
  },
  'admin.packs.list': () => undefined,
  'admin.packs.save': () => ({
    id: 'matrix-pack',
    wallet: 'image_credits',
    credits: 100,
    priceCents: 500,
  }),
  'admin.catalog.list': () => undefined,
  'admin.catalog.update': () => ({ kind: 'image_credits', usedFor: 'Matrix images' }),
  'admin.orders.list': ({ workspaceId }) => ({ workspaceId }),
  'admin.orders.refund': async (t) => ({
    orderId: await paidOrderIn(t),
    reason: 'Matrix refund',
    idempotencyKey: key('refund'),
  }),
  'admin.ledger.adjust': ({ workspaceId }) => ({
    workspaceId,
    wallet: 'video_credits',
    amount: 5,
    reason: 'Matrix adjustment',
    idempotencyKey: key('adjust'),
  }),
  'admin.ledger.grant': ({ workspaceId }) => ({
    workspaceId,
    wallet: 'video_credits',
    amount: 10,
    source: 'adjustment',
    reason: 'Matrix grant',
    idempotencyKey: key('grant'),
  }),
  'admin.keys.create': () => ({ name: 'matrix service key', scopes: ['wallets:read'] }),
  'admin.keys.list': () => undefined,
  'admin.keys.revoke': async ({ fx }) => {
    const made = await fx.setup.admin.keys.create({ name: 'to revoke', scopes: ['wallets:read'] });
    return { keyId: made.record.id };
  },
  'admin.audit.list': ({ workspaceId }) => ({ workspaceId, limit: 10 }),

  // The rule lifecycle (packages/api/src/routers/rules.ts), once it is mounted as admin.rules.
  'admin.rules.active': () => undefined,
  'admin.rules.versions': () => undefined,
  'admin.rules.get': () => ({ version: 1 }),
  'admin.rules.draft': () => undefined,
  'admin.rules.saveDraft': () => ({ document: defaultRuleDocument }),
  'admin.rules.validate': () => ({ document: defaultRuleDocument }),
  'admin.rules.quoteDraft': () => ({ document: defaultRuleDocument, job: video5s }),
  'admin.rules.simulate': () => ({ document: defaultRuleDocument, jobs: [{ job: video5s }] }),
  'admin.rules.publish': () => ({ document: defaultRuleDocument, reason: 'Matrix publish' }),
  'admin.rules.rollback': () => ({ version: 1, reason: 'Matrix rollback' }),
  'admin.rules.diff': () => ({ to: 1 }),
};

// ------------------------------------------------------------------ state

/** Everything a call could change, read through the store's own methods (in parallel: it runs twice a case). */
async function stateOf(fx: Fixture) {
  const { store } = fx;
  const workspace = async (workspaceId: string) => {
    const [
      row,
      wallets,
      history,
      jobs,
      lots,
      members,
      keys,
      orders,
      notifications,
      pendingPlan,
      spendLimits,
      autoTopUps,
      paymentMethod,
      invitations,
      lowThresholds,
    ] = await Promise.all([
      store.getWorkspace(workspaceId),
      store.wallets(workspaceId),
      store.history({ workspaceId, limit: 50 }),
      store.jobs({ workspaceId, limit: 50 }),
      store.lots({ workspaceId }),
      store.accounts.members(workspaceId),
      store.accounts.apiKeys({ workspaceId }),
      store.billing.orders({ workspaceId, limit: 50 }),
      store.billing.notifications({ workspaceId, limit: 50 }),
      store.billing.pendingPlan(workspaceId),
      store.spendLimits.list({ workspaceId }),
      store.autoTopUp.settings({ workspaceId }),
      store.autoTopUp.paymentMethod({ workspaceId, provider: SANDBOX.provider }),
      store.accounts.invitations(workspaceId),
      store.billing.lowThresholds(workspaceId),
    ]);
    // Newest first: anything added shows at the top.
    return {
      row,
      wallets,
      history: history.items,
      jobs: jobs.items,
      lots,
      members,
      keys,
      orders,
      notifications,
      lowThresholds,
      pendingPlan,
      spendLimits,
      autoTopUps,
      paymentMethod,
      invitations,
    };
  };
  const labels = Object.keys(fx.users) as (keyof Fixture['users'])[];
  const [
    A,
    B,
    workspaces,
    serviceKeys,
    audit,
    ruleVersions,
    ruleDraft,
    memberships,
    plans,
    packs,
    catalog,
  ] = await Promise.all([
    workspace(fx.A),
    workspace(fx.B),
    store.listWorkspaceIds(),
    store.accounts.apiKeys({ kind: 'service' }),
    store.accounts.auditLog({ limit: 1 }),
    store.ruleVersions(),
    store.ruleDraft(),
    Promise.all(labels.map((label) => store.accounts.memberships(fx.users[label].id))),
    store.billing.plans({ includeRetired: true }),
    store.billing.packs({ includeInactive: true }),
    store.billing.catalog(),
  ]);
  return {
    A,
    B,
    global: {
      workspaces,
      serviceKeys,
      auditHead: audit.items[0]?.id ?? null,
      ruleVersions,
      ruleDraft,
      memberships,
      plans,
      packs,
      catalog,
    },
  };
}

// ------------------------------------------------------------------ running one case

type Outcome =
  | { kind: 'allowed' }
  | { kind: 'refused'; code: 'UNAUTHORIZED' | 'FORBIDDEN' }
  | { kind: 'other'; code: string; reason: string | null; message: string };

type Callable = ((input?: unknown) => Promise<unknown>) & { [segment: string]: Callable };

async function invoke(
  api: ReturnType<typeof createCaller>,
  path: string,
  input: unknown,
): Promise<Outcome> {
  let fn = api as unknown as Callable;
  for (const segment of path.split('.')) fn = fn[segment]!;
  try {
    await fn(input);
    return { kind: 'allowed' };
  } catch (e) {
    if (!(e instanceof TRPCError)) throw e;
    const cause = e.cause;
    const reason =
      cause instanceof CreditsError ? cause.reason : cause instanceof ZodError ? 'ZOD' : null;
    // Access refusals carry the reason of the same name; FEATURE_UNAVAILABLE is also FORBIDDEN but is not one.
    if ((reason === 'UNAUTHORIZED' || reason === 'FORBIDDEN') && e.code === reason)
      return { kind: 'refused', code: reason };
    return { kind: 'other', code: e.code, reason, message: e.message };
  }
}

interface CaseResult {
  path: string;
  access: string;
  profile: ProfileName;
  target: TargetName;
  expected: Expected;
  outcome: Outcome;
  problems: string[];
}

interface Tally {
  cases: number;
  crossTenantAccepted: number;
  nonAdminAdminAccepted: number;
  anonymousAccepted: number;
  refusedStateChanges: number;
  allowed: number;
  refused: number;
  other: Map<string, number>;
}

const newTally = (): Tally => ({
  cases: 0,
  crossTenantAccepted: 0,
  nonAdminAdminAccepted: 0,
  anonymousAccepted: 0,
  refusedStateChanges: 0,
  allowed: 0,
  refused: 0,
  other: new Map(),
});

async function runCase(
  fx: Fixture,
  tally: Tally,
  proc: ProcedureInfo,
  profile: ProfileName,
  target: TargetName,
): Promise<CaseResult> {
  const factory = INPUTS[proc.path]!;
  const workspaceId = target === 'B' ? fx.B : target === 'random' ? missing('ws') : fx.A;
  const objectsOf = target === 'A' ? fx.A : target === 'random' ? null : fx.B;
  const input = await factory({ fx, workspaceId, objectsOf });
  const access = proc.access as KnownAccess;
  const expected = expectedOutcome(access, profile, target);

  const before = await stateOf(fx);
  const writesBefore = fx.store.stats().writes;
  const outcome = await invoke(
    createCaller({ ...fx.ctx, caller: fx.callers[profile] }),
    proc.path,
    input,
  );
  const writes = fx.store.stats().writes - writesBefore;
  const after =
    outcome.kind === 'refused' || target === 'A with B ids' ? await stateOf(fx) : before;

  const problems: string[] = [];
  const accepted = outcome.kind !== 'refused';
  const p = PROFILES[profile];
  const named = NAMED[target];
  const namesWorkspace =
    typeof input === 'object' &&
    input !== null &&
    (input as { workspaceId?: unknown }).workspaceId === workspaceId;

  tally.cases += 1;
  if (outcome.kind === 'allowed') tally.allowed += 1;
  else if (outcome.kind === 'refused') tally.refused += 1;
  else
    tally.other.set(
      `${outcome.code}/${outcome.reason}`,
      (tally.other.get(`${outcome.code}/${outcome.reason}`) ?? 0) + 1,
    );

  if (accepted && namesWorkspace && p.tenant !== null && named !== p.tenant) {
    tally.crossTenantAccepted += 1;
    problems.push(`cross-tenant call accepted (${p.tenant}'s caller on ${named})`);
  }
  // A call that names workspace A must leave B alone, whoever makes it. (Admin procedures that
  // name no workspace, such as a refund by order id, may act anywhere.)
  if (
    target === 'A with B ids' &&
    namesWorkspace &&
    JSON.stringify(after.B) !== JSON.stringify(before.B)
  ) {
    tally.crossTenantAccepted += 1;
    problems.push("a call naming workspace A changed workspace B (B's object ids honoured)");
  }
  if (accepted && access === 'admin' && !p.admin) {
    tally.nonAdminAdminAccepted += 1;
    problems.push('non-admin call to an admin procedure accepted');
  }
  if (accepted && profile === 'anonymous' && access !== 'public') {
    tally.anonymousAccepted += 1;
    problems.push('anonymous call to a non-public procedure accepted');
  }
  if (
    outcome.kind === 'refused' &&
    (writes !== 0 || JSON.stringify(after) !== JSON.stringify(before))
  ) {
    tally.refusedStateChanges += 1;
    problems.push(`refused call changed state (${writes} write transaction(s))`);
  }

  // Exactly as the table says: refused with the right code, or accepted (allowed, or a later
  // business error such as NOT_FOUND for a random id: it got past access control).
  if (expected === 'allowed') {
    if (outcome.kind === 'refused') problems.push(`expected allowed, refused ${outcome.code}`);
  } else if (outcome.kind !== 'refused' || outcome.code !== expected) {
    problems.push(
      `expected ${expected}, got ${outcome.kind === 'refused' ? outcome.code : outcome.kind}`,
    );
  }
  // The factories must be plausible: no input is rejected by its schema, nothing crashes.
  if (
    outcome.kind === 'other' &&
    (outcome.reason === 'ZOD' || outcome.code === 'INTERNAL_SERVER_ERROR')
  ) {
    problems.push(`input factory or procedure is broken: ${outcome.code} ${outcome.message}`);
  }
  return { path: proc.path, access, profile, target, expected, outcome, problems };
}

// ------------------------------------------------------------------ the tests

/**
 * One procedure's 36 cases (sign-up and sign-in hash passwords; PostgreSQL on a busy machine is
 * slow). Explicit: the root config's timeouts do not reach the projects, and a test that times
 * out keeps running in the background, where its writes would be blamed on the next test.
 */
const CASE_TIMEOUT_MS = 180_000;

describe('the router declares access everywhere (default deny)', () => {
  it('finds the procedures by walking _def.record, the same set tRPC serves', () => {
    expect(PROCEDURES.length).toBeGreaterThan(20);
    expect(PROCEDURES.map((p) => p.path).sort()).toEqual(
      Object.keys(appRouter._def.procedures).sort(),
    );
  });

  it('every procedure has a known meta.access', () => {
    const undeclared = PROCEDURES.filter(
      (p) => !(KNOWN_ACCESS as readonly unknown[]).includes(p.access),
    ).map((p) => `${p.path}: ${String(p.access)}`);
    expect(undeclared).toEqual([]);
  });

  it('every procedure has an input factory in this test', () => {
    expect(PROCEDURES.filter((p) => !INPUTS[p.path]).map((p) => p.path)).toEqual([]);
  });
});

// Who may call what is decided above the store, so the matrix needs each kind of database
// once (SQLite; PostgreSQL when TEST_DATABASE_URL is set), not SQLite again on its worker
// thread: the worker's transport is covered by every other suite here, and on this file it
// cost more than half of the whole run (the slowest file of `pnpm test`).
for (const dialect of DIALECTS.filter((d) => d.name !== 'sqlite-worker')) {
  describe.skipIf(dialect.skip !== null)(`authorization matrix on ${dialect.name}`, () => {
    let fx: Fixture;
    const tally = newTally();
    const failures: CaseResult[] = [];
    const started = performance.now();

    beforeAll(async () => {
      fx = await buildFixture(dialect);
    }, CASE_TIMEOUT_MS);
    afterAll(async () => {
      await fx?.cleanup();
    });

    for (const proc of PROCEDURES) {
      it(
        `${proc.path} (${String(proc.access)}) × ${PROFILE_NAMES.length} callers × ${TARGETS.length} targets`,
        async () => {
          expect(
            INPUTS[proc.path],
            `no input factory for ${proc.path}: add one to INPUTS`,
          ).toBeDefined();
          expect(KNOWN_ACCESS, `${proc.path} has no known meta.access`).toContain(proc.access);
          const bad: string[] = [];
          for (const profile of PROFILE_NAMES) {
            for (const target of TARGETS) {
              const r = await runCase(fx, tally, proc, profile, target);
              if (r.problems.length > 0) {
                failures.push(r);
                const got =
                  r.outcome.kind === 'other'
                    ? `${r.outcome.code}/${r.outcome.reason}`
                    : r.outcome.kind;
                bad.push(`${profile} on ${target}: ${r.problems.join('; ')} [got ${got}]`);
              }
            }
          }
          expect(bad).toEqual([]);
        },
        CASE_TIMEOUT_MS,
      );
    }

    it(
      'totals: cross-tenant, non-admin admin, anonymous and refused-state-change counts are all zero',
      async () => {
        const seconds = ((performance.now() - started) / 1000).toFixed(1);
        const other = [...tally.other].map(([k, n]) => `${k}×${n}`).join(', ');
        console.log(
          [
            `access matrix on ${dialect.name}: ${tally.cases} cases run ` +
              `(${PROCEDURES.length} procedures × ${PROFILE_NAMES.length} callers × ${TARGETS.length} targets) in ${seconds} s`,
            `  outcomes: allowed ${tally.allowed}, refused ${tally.refused}, other errors ${tally.cases - tally.allowed - tally.refused}${other ? ` (${other})` : ''}`,
            `  cross-tenant reads and writes accepted: ${tally.crossTenantAccepted}`,
            `  non-admin calls to admin procedures accepted: ${tally.nonAdminAdminAccepted}`,
            `  anonymous calls to non-public procedures accepted: ${tally.anonymousAccepted}`,
            `  state changes on refused calls: ${tally.refusedStateChanges}`,
          ].join('\n'),
        );
        expect(tally.cases).toBe(PROCEDURES.length * PROFILE_NAMES.length * TARGETS.length);
        expect(tally.refused).toBeGreaterThan(0);
        expect(tally.allowed).toBeGreaterThan(0);
        expect({
          crossTenantAccepted: tally.crossTenantAccepted,
          nonAdminAdminAccepted: tally.nonAdminAdminAccepted,
          anonymousAccepted: tally.anonymousAccepted,
          refusedStateChanges: tally.refusedStateChanges,
          mismatches: failures.length,
        }).toEqual({
          crossTenantAccepted: 0,
          nonAdminAdminAccepted: 0,
          anonymousAccepted: 0,
          refusedStateChanges: 0,
          mismatches: 0,
        });
        // The ledger still balances after every accepted write the matrix made.
        expect((await fx.store.verify()).violations).toEqual([]);
      },
      CASE_TIMEOUT_MS,
    );
  });
}
