import {
  WALLET_KINDS,
  walletActions,
  walletStatus,
  type WalletAction,
  type WalletCatalogEntry,
  type WalletKind,
  type WalletStatus,
} from '@credits/domain';
import { trialGrant, type Job, type Pricer, type RuleDocument } from '@credits/rules';
import type { Lot, WalletBalance } from '@credits/store';

export const TRIAL_MESSAGE_FALLBACK = 'Free trial includes one 5-second Standard Video at 720p.';

/** A wallet as the API returns it (SPEC 2). */
export interface WalletView {
  kind: WalletKind;
  label: string;
  usedFor: string;
  balance: number;
  held: number;
  status: WalletStatus;
  actions: WalletAction[];
  lowThreshold: number;
  trial?: { remaining: number; message: string };
  /** AI Tokens only: this billing cycle. */
  cycle?: { usedThisCycle: number; planLimit: number; resetsAt: number };
  /**
   * Image and video: what the balance buys at today's prices — a reference job (one Standard
   * hero image; a 5-second Standard video at 720p) priced by the active rules for this
   * workspace, and how many of it the balance covers. Absent when the rules do not offer it.
   */
  buys?: { job: Job; each: number; count: number; ruleVersion: number };
}

/** The job each wallet's "what your balance buys" line is counted in. */
export const REFERENCE_JOBS: Partial<Record<WalletKind, Job>> = {
  image_credits: { kind: 'image', type: 'hero', count: 1, quality: 'standard' },
  video_credits: { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' },
};

/** How many reference jobs `available` buys under `pricer` (null when not offered or free). */
export function balanceBuys(input: {
  kind: WalletKind;
  available: number;
  pricer: Pricer;
  facts: { plan: string; features: readonly string[]; trialRemaining: number };
}): WalletView['buys'] | null {
  const job = REFERENCE_JOBS[input.kind];
  if (!job) return null;
  const priced = input.pricer.price(job, input.facts);
  if (!priced.ok || priced.credits <= 0) return null;
  return {
    job,
    each: priced.credits,
    count: Math.floor(input.available / priced.credits),
    ruleVersion: priced.ruleVersion,
  };
}

export function walletView(input: {
  balance: WalletBalance;
  catalog: WalletCatalogEntry;
  /** The workspace's own low threshold for this wallet, when its owners set one. */
  lowThreshold?: number;
  cycle?: { usedThisCycle: number; planLimit: number; resetsAt: number };
  videoLots: Lot[];
  rules: RuleDocument;
  plan: string;
  now: number;
}): WalletView {
  const { balance } = input;
  const { catalog } = input;
  const lowThreshold = input.lowThreshold ?? catalog.lowThreshold;
  const status = walletStatus({
    balance: balance.available,
    lowThreshold,
    available: catalog.available,
  });
  const view: WalletView = {
    kind: balance.kind,
    label: catalog.label,
    usedFor: catalog.usedFor,
    balance: balance.available,
    held: balance.held,
    status,
    actions: walletActions(balance.kind, status),
    lowThreshold,
  };
  if (balance.kind === 'ai_tokens' && input.cycle) view.cycle = input.cycle;
  if (balance.kind === 'video_credits') {
    const remaining = input.videoLots
      .filter((l) => l.source === 'trial' && (l.expiresAt === null || l.expiresAt > input.now))
      .reduce((s, l) => s + l.remaining, 0);
    if (remaining > 0) {
      const message =
        trialGrant(input.rules, { trialEligible: true, plan: input.plan })?.message ??
        TRIAL_MESSAGE_FALLBACK;
      view.trial = { remaining, message };
    }
  }
  return view;
}

export function sortWallets<T extends { kind: WalletKind }>(wallets: T[]): T[] {
  return [...wallets].sort((a, b) => WALLET_KINDS.indexOf(a.kind) - WALLET_KINDS.indexOf(b.kind));
}
