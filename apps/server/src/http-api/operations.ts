import { z } from 'zod';
import {
  ENTRY_TYPES,
  JOB_STATUSES,
  REASONS,
  WALLET_ACTIONS,
  WALLET_KINDS,
  WALLET_STATUSES,
  type Reason,
} from '@credits/domain';
import { jobSchema } from '@credits/rules';
import { appRouter, type createCaller, type RouterInputs } from '@credits/api';

/**
 * The HTTP/JSON API for services (`/api/v1`): each operation is one tRPC procedure, called
 * through `createCaller`, so access, validation, idempotency and error reasons are the
 * router's own. Request schemas are the procedures' input schemas, read from the router;
 * the response schemas below describe what the procedures return, and the OpenAPI test
 * validates every real answer against them.
 */

type Caller = ReturnType<typeof createCaller>;
type ProcedurePath =
  | 'wallets.list'
  | 'wallets.get'
  | 'usage.quote'
  | 'usage.reserve'
  | 'usage.capture'
  | 'usage.release'
  | 'usage.charge'
  | 'usage.refund'
  | 'usage.history'
  | 'usage.jobs';

const int = z.number().int();
const walletKind = z.enum(WALLET_KINDS).meta({ id: 'WalletKind' });
const allocation = z
  .object({ lotId: z.string(), amount: int })
  .meta({ id: 'Allocation', description: 'How much one lot paid (signed in ledger entries).' });
const breakdownLine = z
  .object({
    label: z.string(),
    type: z.enum(['rate', 'flat', 'multiplier', 'minimum']),
    credits: int,
  })
  .meta({ id: 'BreakdownLine', description: 'One contribution to a price; the lines sum to it.' });
const epochMs = int.meta({ description: 'Epoch milliseconds' });

const walletView = z
  .object({
    kind: walletKind,
    label: z.string(),
    usedFor: z.string(),
    balance: int.meta({ description: 'Available credits' }),
    held: int.meta({ description: 'Reserved by running jobs' }),
    status: z.enum(WALLET_STATUSES),
    actions: z.array(z.enum(WALLET_ACTIONS)),
    lowThreshold: int,
    trial: z
      .object({ remaining: int, message: z.string() })
      .optional()
      .meta({ description: 'Video Credits only, while unexpired trial credits remain.' }),
    cycle: z
      .object({ usedThisCycle: int, planLimit: int, resetsAt: epochMs })
      .optional()
      .meta({ description: 'AI Tokens only: this billing cycle.' }),
    buys: z.object({ job: jobSchema, each: int, count: int, ruleVersion: int }).optional().meta({
      description:
        'Image and Video Credits: a reference job priced by the active rules (each) and how many the balance buys (count).',
    }),
  })
  .meta({ id: 'Wallet' });

const quote = z
  .object({
    wallet: walletKind,
    credits: int.meta({ description: 'The price of the job' }),
    breakdown: z.array(breakdownLine),
    ruleVersion: int,
    trialApplies: z
      .boolean()
      .meta({ description: 'Trial credits would pay all of it, drawn in spend order now' }),
    trialCredits: int.meta({ description: 'How much of the price trial credits would pay' }),
    balance: int.meta({ description: 'Available credits in the wallet' }),
    usable: int.meta({
      description: 'Of those, what this job may use (trial credits pay only trial jobs)',
    }),
    sufficient: z.boolean(),
    action: z
      .enum(WALLET_ACTIONS)
      .nullable()
      .meta({ description: 'When short: the button to offer' }),
    spendLimit: z
      .object({
        wouldRefuse: z
          .boolean()
          .meta({ description: 'Reserve or charge would now fail with SPEND_LIMIT_REACHED' }),
        scope: z.enum(['workspace', 'member', 'key']),
        subjectId: z.string().nullable(),
        limit: int,
        used: int.meta({ description: 'Spent this cycle by the jobs the limit covers' }),
        held: int.meta({ description: 'Held now by their open holds' }),
        needed: int,
        resetsAt: epochMs,
        action: z
          .enum(['raise_limit', 'ask_owner'])
          .nullable()
          .meta({ description: 'When it would refuse: owners raise the limit, others ask one' }),
      })
      .nullable()
      .meta({
        description:
          'The spending limit that would refuse the job, else the tightest hard one; null when no limit applies to the caller',
      }),
  })
  .meta({ id: 'Quote' });

const hold = z
  .object({
    holdId: z.string(),
    wallet: walletKind,
    credits: int.meta({ description: 'Credits held' }),
    ruleVersion: int,
    trialApplies: z.boolean(),
    expiresAt: epochMs.meta({
      description: 'The hold releases itself at this time unless settled',
    }),
    balance: int,
    held: int,
    lots: z.array(allocation),
  })
  .meta({ id: 'Hold' });

const settlement = z
  .object({
    holdId: z.string(),
    status: z.enum(JOB_STATUSES),
    captured: int,
    returned: int,
    expired: int.meta({
      description: 'Returned credits whose lot had expired meanwhile, expired at once',
    }),
    balance: int,
    held: int,
  })
  .meta({ id: 'Settlement' });

const charge = z
  .object({
    jobId: z.string(),
    wallet: walletKind,
    credits: int,
    ruleVersion: int,
    balance: int,
    lots: z.array(allocation),
  })
  .meta({ id: 'Charge' });

/** Why a reserve or a charge (the two operations that spend) can be refused. */
const SPEND_REASONS: Reason[] = [
  'WORKSPACE_NOT_FOUND',
  'INSUFFICIENT_CREDITS',
  'SPEND_LIMIT_REACHED',
  'COMING_SOON',
  'FEATURE_UNAVAILABLE',
  'IDEMPOTENCY_CONFLICT',
];

const refund = z
  .object({
    jobId: z.string(),
    wallet: walletKind,
    refunded: int.meta({ description: 'Credits this refund gave back (returned + expired)' }),
    returned: int.meta({ description: 'Of those, back in lots still live (available again)' }),
    expired: int.meta({
      description: 'Of those, owed to lots that expired meanwhile: expired at once, recorded',
    }),
    cost: int.meta({ description: 'What the job cost' }),
    totalRefunded: int.meta({ description: 'Refunded of it so far, this refund included' }),
    balance: int,
  })
  .meta({ id: 'Refund' });

const ledgerEntry = z
  .object({
    id: int,
    workspaceId: z.string(),
    wallet: walletKind,
    type: z.enum(ENTRY_TYPES),
    amount: int.meta({ description: 'Signed, as the user reads it: a hold of 50 is -50' }),
    availableDelta: int,
    heldDelta: int,
    balanceAfter: int,
    heldAfter: int,
    jobId: z.string().nullable(),
    orderId: z.string().nullable(),
    ruleVersion: int.nullable(),
    actor: z.string(),
    description: z.string(),
    lots: z.array(allocation),
    createdAt: epochMs,
  })
  .meta({ id: 'LedgerEntry' });

const jobRecord = z
  .object({
    id: z.string(),
    workspaceId: z.string(),
    wallet: walletKind,
    kind: z.enum(['ai', 'image', 'video', 'audio']),
    job: jobSchema,
    status: z.enum(JOB_STATUSES),
    held: int,
    captured: int.nullable(),
    ruleVersion: int.nullable(),
    breakdown: z.array(breakdownLine),
    trialApplies: z.boolean(),
    actor: z.string(),
    createdAt: epochMs,
    expiresAt: epochMs.nullable(),
    settledAt: epochMs.nullable(),
  })
  .meta({ id: 'JobRecord' });

const page = <T extends z.ZodType>(item: T, id: string) =>
  z
    .object({
      items: z.array(item),
      nextCursor: z.string().nullable().meta({ description: 'null on the last page' }),
    })
    .meta({ id });

/** The error envelope: the same as `/trpc` answers (docs/api.md, Errors). */
export const errorEnvelope = z
  .object({
    error: z.object({
      message: z.string(),
      code: int.meta({ description: 'JSON-RPC code' }),
      data: z.object({
        code: z.string().meta({ description: 'tRPC code, e.g. PRECONDITION_FAILED' }),
        httpStatus: int,
        path: z.string().optional(),
        reason: z
          .enum(Object.values(REASONS) as [Reason, ...Reason[]])
          .nullable()
          .meta({ description: 'Machine-readable: switch on this' }),
        details: z.record(z.string(), z.unknown()).nullable(),
        zodError: z
          .object({
            formErrors: z.array(z.string()),
            fieldErrors: z.record(z.string(), z.array(z.string())),
          })
          .nullable()
          .optional(),
      }),
    }),
  })
  .meta({ id: 'Error' });

export interface Operation {
  operationId: string;
  procedure: ProcedurePath;
  method: 'get' | 'post';
  /** OpenAPI path; `{name}` segments are input fields. */
  path: string;
  /** Where the rest of the input travels. */
  rest: 'query' | 'body' | 'none';
  summary: string;
  description: string;
  response: z.ZodType;
  /** The reasons this operation may answer besides VALIDATION, UNAUTHORIZED and FORBIDDEN. */
  reasons: Reason[];
  call: (caller: Caller, input: unknown) => Promise<unknown>;
}

const WS = '/api/v1/workspaces/{workspaceId}';

export const OPERATIONS: readonly Operation[] = [
  {
    operationId: 'listWallets',
    procedure: 'wallets.list',
    method: 'get',
    path: `${WS}/wallets`,
    rest: 'none',
    summary: 'The workspace’s wallets',
    description:
      'Every wallet with its balance, held credits, status and actions, in display order. Lots past their date are expired first.',
    response: z.object({ workspaceId: z.string(), wallets: z.array(walletView) }),
    reasons: ['WORKSPACE_NOT_FOUND'],
    call: (c, i) => c.wallets.list(i as RouterInputs['wallets']['list']),
  },
  {
    operationId: 'getWallet',
    procedure: 'wallets.get',
    method: 'get',
    path: `${WS}/wallets/{wallet}`,
    rest: 'none',
    summary: 'One wallet',
    description: 'One wallet of the workspace, as in the list.',
    response: walletView,
    reasons: ['WORKSPACE_NOT_FOUND', 'NOT_FOUND'],
    call: (c, i) => c.wallets.get(i as RouterInputs['wallets']['get']),
  },
  {
    operationId: 'quote',
    procedure: 'usage.quote',
    method: 'post',
    path: `${WS}/quotes`,
    rest: 'body',
    summary: 'Price a job (changes nothing)',
    description:
      'The price under the active rules, its breakdown, the balance and whether it is enough; when short, the action to offer. A POST because a job is a nested object; nothing is written.',
    response: quote,
    reasons: ['WORKSPACE_NOT_FOUND', 'COMING_SOON', 'FEATURE_UNAVAILABLE'],
    call: (c, i) => c.usage.quote(i as RouterInputs['usage']['quote']),
  },
  {
    operationId: 'reserve',
    procedure: 'usage.reserve',
    method: 'post',
    path: `${WS}/holds`,
    rest: 'body',
    summary: 'Reserve: hold a job’s credits',
    description:
      'Prices the job and moves its credits from available to held until capture, release or expiry (`ttlSec`, default one hour). All or nothing: INSUFFICIENT_CREDITS with needed, available and the action; SPEND_LIMIT_REACHED (limit, used, held, needed, resetsAt, action) when a hard spending limit has no room. Idempotent by `idempotencyKey`: the same key and body replay the first answer; another body is IDEMPOTENCY_CONFLICT.',
    response: hold,
    reasons: SPEND_REASONS,
    call: (c, i) => c.usage.reserve(i as RouterInputs['usage']['reserve']),
  },
  {
    operationId: 'capture',
    procedure: 'usage.capture',
    method: 'post',
    path: `${WS}/holds/{holdId}/capture`,
    rest: 'body',
    summary: 'Capture: settle a hold at what the job cost',
    description:
      'With `actual`, the price of the job that really ran (under the hold’s rule version), capped at the hold; with `credits`, that amount (CAPTURE_EXCEEDS_HOLD above the hold); with neither, the whole hold. Give one of `actual` and `credits`, not both. The rest returns. A hold settles once (HOLD_SETTLED). Idempotent by `idempotencyKey`.',
    response: settlement,
    reasons: [
      'HOLD_NOT_FOUND',
      'HOLD_SETTLED',
      'CAPTURE_EXCEEDS_HOLD',
      'IDEMPOTENCY_CONFLICT',
      'WORKSPACE_NOT_FOUND',
    ],
    call: (c, i) => c.usage.capture(i as RouterInputs['usage']['capture']),
  },
  {
    operationId: 'release',
    procedure: 'usage.release',
    method: 'post',
    path: `${WS}/holds/{holdId}/release`,
    rest: 'body',
    summary: 'Release: the job did not run, every held credit returns',
    description: 'A hold settles once (HOLD_SETTLED). Idempotent by `idempotencyKey`.',
    response: settlement,
    reasons: ['HOLD_NOT_FOUND', 'HOLD_SETTLED', 'IDEMPOTENCY_CONFLICT'],
    call: (c, i) => c.usage.release(i as RouterInputs['usage']['release']),
  },
  {
    operationId: 'charge',
    procedure: 'usage.charge',
    method: 'post',
    path: `${WS}/charges`,
    rest: 'body',
    summary: 'Charge: one-step debit for usage known afterwards (AI tokens)',
    description:
      'Prices the job and spends its credits at once. All or nothing (INSUFFICIENT_CREDITS, SPEND_LIMIT_REACHED). Idempotent by `idempotencyKey`.',
    response: charge,
    reasons: SPEND_REASONS,
    call: (c, i) => c.usage.charge(i as RouterInputs['usage']['charge']),
  },
  {
    operationId: 'refund',
    procedure: 'usage.refund',
    method: 'post',
    path: `${WS}/jobs/{jobId}/refund`,
    rest: 'body',
    summary: 'Refund a finished job, in part or whole (the job failed after it finished)',
    description:
      'For a job already captured or charged: `credits` of it (the whole cost when omitted) go back to the lots that paid, last drawn first; a part owed to a lot that has expired meanwhile expires at once, recorded. Refunds of one job never add up to more than it cost (REFUND_EXCEEDS_COST); a job not captured or charged is JOB_NOT_REFUNDABLE. Platform admins and service keys with usage:write only. Idempotent by `idempotencyKey`.',
    response: refund,
    reasons: [
      'NOT_FOUND',
      'JOB_NOT_REFUNDABLE',
      'REFUND_EXCEEDS_COST',
      'IDEMPOTENCY_CONFLICT',
      'WORKSPACE_NOT_FOUND',
    ],
    call: (c, i) => c.usage.refund(i as RouterInputs['usage']['refund']),
  },
  {
    operationId: 'history',
    procedure: 'usage.history',
    method: 'get',
    path: `${WS}/history`,
    rest: 'query',
    summary: 'Ledger entries, newest first',
    description:
      'Filter by wallet, entry types (repeat `types`), time (`from` inclusive, `to` exclusive), and who: `member` (user id) or `apiKey` (key id; owners and admins only), an entry of a job belonging to whoever reserved or charged it; pages of up to 200 with a cursor that stays stable while entries arrive.',
    response: page(ledgerEntry, 'HistoryPage'),
    reasons: [],
    call: (c, i) => c.usage.history(i as RouterInputs['usage']['history']),
  },
  {
    operationId: 'jobs',
    procedure: 'usage.jobs',
    method: 'get',
    path: `${WS}/jobs`,
    rest: 'query',
    summary: 'Recent jobs with status and cost',
    description: 'Newest first, filter by wallet and status, cursor pages of up to 200.',
    response: page(jobRecord, 'JobsPage'),
    reasons: [],
    call: (c, i) => c.usage.jobs(i as RouterInputs['usage']['jobs']),
  },
];

/** The procedure's input schema, from the router itself. */
export function inputSchema(procedure: ProcedurePath): z.ZodObject {
  const procedures = appRouter._def.procedures as unknown as Record<
    string,
    { _def: { inputs: unknown[] } } | undefined
  >;
  const schema = procedures[procedure]?._def.inputs[0];
  if (!(schema instanceof z.ZodObject))
    throw new Error(`${procedure}: expected one object input schema`);
  return schema;
}

/** `{name}` segments of an OpenAPI path. */
export function pathParams(path: string): string[] {
  return [...path.matchAll(/\{(\w+)\}/g)].map((m) => m[1]!);
}
