import { beforeEach, describe, expect, it, vi } from 'vitest';
import { flushPromises, mount } from '@vue/test-utils';
import { QueryClient, VueQueryPlugin } from '@tanstack/vue-query';
import AutoTopUpPanel from './AutoTopUpPanel.vue';
import type { AutoTopUpWallet } from '../../composables/useSpendingControls';

const terms = vi.fn();
const enable = vi.fn();
vi.mock('../../trpc', () => ({
  trpc: {
    autoTopUp: {
      terms: { query: (i: unknown) => terms(i) },
      enable: { mutate: (i: unknown) => enable(i) },
      disable: { mutate: vi.fn() },
      setupPaymentMethod: { mutate: vi.fn() },
    },
  },
}));

const TERMS =
  'When your Video Credits balance falls below 100, we will charge your saved payment method $10.00 for 200 Video Credits, at most $30.00 per billing cycle.';

function entry(on: boolean): AutoTopUpWallet {
  return {
    wallet: 'video_credits',
    label: 'Video Credits',
    packs: [
      {
        id: 'video-200',
        wallet: 'video_credits',
        credits: 200,
        priceCents: 1000,
        currency: 'usd',
        active: true,
      },
      {
        id: 'video-1000',
        wallet: 'video_credits',
        credits: 1000,
        priceCents: 4000,
        currency: 'usd',
        active: true,
      },
    ],
    setting: on
      ? {
          enabled: true,
          disabledReason: null,
          consecutiveFailures: 0,
          updatedAt: 0,
          consent: {
            id: 'consent_1',
            workspaceId: 'ws_1',
            wallet: 'video_credits',
            givenBy: 'user:usr_o',
            givenByLabel: 'Olive Owner',
            givenAt: Date.UTC(2026, 0, 15, 12),
            terms: TERMS,
            packId: 'video-200',
            packCredits: 200,
            priceCents: 1000,
            currency: 'usd',
            threshold: 100,
            monthlyCapCents: 3000,
          },
        }
      : null,
    cycle: { spentCents: 1000, inFlight: false, attempts: [] },
  } as AutoTopUpWallet;
}

const mountPanel = (props: Partial<InstanceType<typeof AutoTopUpPanel>['$props']>) =>
  mount(AutoTopUpPanel, {
    props: {
      workspaceId: 'ws_1',
      entry: entry(true),
      paymentMethod: { label: 'Sandbox card ending 4242', createdAt: 0 },
      resetsAt: Date.UTC(2026, 1, 15),
      canEdit: false,
      ...props,
    },
    global: { plugins: [[VueQueryPlugin, { queryClient: new QueryClient() }]] },
  });

describe('AutoTopUpPanel', () => {
  beforeEach(() => {
    terms.mockReset().mockResolvedValue({ terms: TERMS });
    enable.mockReset().mockResolvedValue({});
  });

  it('shows it on, the settings, this cycle against the cap, and the consent word for word', () => {
    const w = mountPanel({});
    expect(w.get('[data-testid="auto-top-up-state"]').text()).toBe('On');
    expect(w.text()).toContain(
      'When Video Credits fall below 100, buy 200 Video Credits for $10.00, at most $30.00 per billing cycle.',
    );
    expect(w.get('[data-testid="auto-top-up-cycle"]').text()).toContain(
      'This cycle: $10.00 of $30.00 bought',
    );
    expect(w.get('[data-testid="consent-terms"]').text()).toBe(TERMS);
    expect(w.text()).toContain('Agreed by Olive Owner on');
    // A member reads all of it and may change none of it.
    expect(w.findAll('button')).toHaveLength(0);
  });

  it('says why it is off', () => {
    const e = entry(true);
    e.setting = { ...e.setting!, enabled: false, disabledReason: 'declines' };
    expect(mountPanel({ entry: e }).text()).toContain(
      'Auto top-up is turned off after 3 declined payments in a row.',
    );
  });

  it('owners agree to the terms the server made for the settings on screen, and those are what is sent', async () => {
    const w = mountPanel({ entry: entry(false), canEdit: true });
    await w.get('[data-testid="auto-top-up-edit"]').trigger('click');
    await w.get('[data-testid="auto-top-up-threshold"]').setValue('100');
    await w.get('[data-testid="auto-top-up-cap"]').setValue('30');
    await flushPromises();
    expect(terms).toHaveBeenLastCalledWith({
      workspaceId: 'ws_1',
      wallet: 'video_credits',
      packId: 'video-200',
      threshold: 100,
      monthlyCapCents: 3000,
    });
    expect(w.get('[data-testid="auto-top-up-terms"]').text()).toBe(TERMS);
    const turnOn = w.get('[data-testid="auto-top-up-enable"]');
    expect(turnOn.attributes('disabled')).toBeDefined();
    await w.get('[data-testid="auto-top-up-agree"]').setValue(true);
    expect(turnOn.attributes('disabled')).toBeUndefined();
    await w.get('form').trigger('submit');
    await flushPromises();
    expect(enable).toHaveBeenCalledWith({
      workspaceId: 'ws_1',
      wallet: 'video_credits',
      packId: 'video-200',
      threshold: 100,
      monthlyCapCents: 3000,
      acceptedTerms: TERMS,
    });
  });

  it('a cap below one pack is explained, with no terms to agree to', async () => {
    const w = mountPanel({ entry: entry(false), canEdit: true });
    await w.get('[data-testid="auto-top-up-edit"]').trigger('click');
    await w.get('[data-testid="auto-top-up-cap"]').setValue('5');
    await flushPromises();
    expect(w.text()).toContain('The monthly cap must allow at least one pack ($10.00).');
    expect(w.find('[data-testid="auto-top-up-terms"]').exists()).toBe(false);
  });
});
