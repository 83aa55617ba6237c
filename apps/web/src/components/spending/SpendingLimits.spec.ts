import { beforeEach, describe, expect, it, vi } from 'vitest';
import { flushPromises, mount } from '@vue/test-utils';
import SpendingLimits from './SpendingLimits.vue';
import type { LimitView } from '../../composables/useSpendingControls';

const setLimit = vi.fn();
const removeLimit = vi.fn();
vi.mock('../../trpc', () => ({
  trpc: {
    spending: {
      setLimit: { mutate: (i: unknown) => setLimit(i) },
      removeLimit: { mutate: (i: unknown) => removeLimit(i) },
    },
  },
}));

function limit(overrides: Partial<LimitView> = {}): LimitView {
  return {
    wallet: 'video_credits',
    scope: 'workspace',
    subjectId: null,
    subjectLabel: 'Whole workspace',
    amount: 500,
    mode: 'hard',
    thresholds: [50, 80, 100],
    used: 70,
    held: 50,
    remaining: 380,
    alerted: [],
    updatedBy: 'user:usr_owner',
    updatedAt: 0,
    ...overrides,
  };
}

const props = (over: Partial<InstanceType<typeof SpendingLimits>['$props']> = {}) => ({
  workspaceId: 'ws_1',
  wallet: 'video_credits' as const,
  unit: 'credits',
  limits: [
    limit(),
    limit({
      scope: 'member',
      subjectId: 'usr_mo',
      subjectLabel: 'Mo',
      mode: 'soft',
      amount: 100,
      used: 90,
      held: 0,
      remaining: 10,
      alerted: [50, 80],
    }),
  ],
  resetsAt: Date.UTC(2026, 1, 15),
  canEdit: false,
  members: [{ userId: 'usr_mo', name: 'Mo', email: 'mo@example.com' }],
  keys: [
    { id: 'key_1', name: 'Render farm', revokedAt: null },
    { id: 'key_2', name: 'Old', revokedAt: 1 },
  ],
  ...over,
});

describe('SpendingLimits', () => {
  beforeEach(() => {
    setLimit.mockReset().mockResolvedValue({});
    removeLimit.mockReset().mockResolvedValue({ removed: true });
  });

  it('shows each limit with spend and holds counted, what is left, its mode and the alerts sent', () => {
    const w = mount(SpendingLimits, { props: props() });
    const rows = w.findAll('[data-testid="limit"]');
    expect(rows.map((r) => r.get('[data-testid="limit-usage"]').text())).toEqual([
      '120 of 500',
      '90 of 100',
    ]);
    expect(rows[0]!.text()).toContain('Hard limit');
    expect(rows[0]!.text()).toContain('Spent 70 · held by running jobs 50 · 380 left');
    expect(rows[0]!.text()).toContain('Jobs that would go over are refused.');
    expect(rows[1]!.text()).toContain('Soft limit');
    expect(rows[1]!.text()).toContain('Alerts at 50% (sent), 80% (sent), 100%.');
  });

  it('members read the limits but get no buttons', () => {
    const w = mount(SpendingLimits, { props: props() });
    expect(w.findAll('button')).toHaveLength(0);
  });

  it('says there is no limit when there is none', () => {
    const w = mount(SpendingLimits, { props: props({ limits: [] }) });
    expect(w.text()).toContain('No limit: jobs may spend whatever the wallet holds.');
  });

  it('owners add a limit for a member or a live key, with the amount, mode and alerts they typed', async () => {
    const w = mount(SpendingLimits, { props: props({ canEdit: true, limits: [] }) });
    await w.get('button').trigger('click');
    const options = w.findAll('[data-testid="limit-target"] option').map((o) => o.text());
    expect(options).toEqual(['Whole workspace', 'Member: Mo', 'API key: Render farm']);
    await w.get('[data-testid="limit-target"]').setValue('key:key_1');
    await w.get('[data-testid="limit-amount"]').setValue('250');
    await w.get('input[value="soft"]').setValue(true);
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(setLimit).toHaveBeenCalledWith({
      workspaceId: 'ws_1',
      wallet: 'video_credits',
      scope: 'key',
      subjectId: 'key_1',
      amount: 250,
      mode: 'soft',
      thresholds: [50, 80, 100],
    });
    expect(w.emitted('changed')).toHaveLength(1);
  });

  it('refuses an amount that is not a whole number, and sends nothing', async () => {
    const w = mount(SpendingLimits, { props: props({ canEdit: true, limits: [] }) });
    await w.get('button').trigger('click');
    await w.get('[data-testid="limit-amount"]').setValue('12.5');
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(setLimit).not.toHaveBeenCalled();
    expect(w.get('[role="alert"]').text()).toBe('Enter the limit as a whole number of credits.');
  });
});
