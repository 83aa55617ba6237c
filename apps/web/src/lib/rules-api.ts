import { trpc } from '../trpc';

/**
 * `admin.rules.*` (packages/api/src/routers/rules.ts, docs/api.md): the shapes the
 * editor works with, named, and checked against the router's own types below.
 */
export interface RuleProblem {
  path: string;
  message: string;
}
export type OutcomeView =
  | {
      ok: true;
      credits: number;
      breakdown: { label: string; type: string; credits: number }[];
      trialApplies: boolean;
    }
  | { ok: false; reason: 'FEATURE_UNAVAILABLE' | 'COMING_SOON'; message: string };
export interface WorkspaceFactsInput {
  plan: string;
  features?: string[];
  trialRemaining?: number;
}
export interface RuleVersionInfo {
  version: number;
  createdAt: number;
  createdBy: string;
  reason: string;
  rolledBackFrom: number | null;
}
export type SimulatedPrice = number | 'FEATURE_UNAVAILABLE' | 'COMING_SOON';
export interface SimulationView {
  activeVersion: number;
  source: 'given' | 'recent';
  since: number | null;
  skipped: number;
  truncated: boolean;
  publishable: boolean;
  jobsRepriced: number;
  changedCount: number;
  changed: {
    id: string;
    workspaceId: string;
    kind: string;
    before: SimulatedPrice;
    after: SimulatedPrice;
  }[];
  creditsDelta: number;
  deltaByKind: Record<string, number>;
  topWorkspaces: { workspaceId: string; delta: number }[];
}
export interface DocumentChange {
  path: string;
  before?: unknown;
  after?: unknown;
}

/**
 * The typed `admin.rules` client. The components store its answers in refs of the types
 * above, so a change in the router's shapes fails the typecheck here.
 */
export const rulesApi = trpc.admin.rules;
