import { describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import { TRPCClientError } from '@trpc/client';
import GeneratePanel from './GeneratePanel.vue';

const base = { phase: 'idle' as const, outcome: null, error: null, disabled: false, what: 'video' };

describe('GeneratePanel', () => {
  it('shows returned credits when the job failed', () => {
    const w = mount(GeneratePanel, {
      props: {
        ...base,
        phase: 'failed',
        outcome: { holdId: 'h', held: 1250, captured: 0, returned: 1250, trialApplies: false },
      },
    });
    expect(w.get('[data-testid="returned-credits"]').text()).toBe('1,250 credits returned');
  });

  it('shows what was spent when the job completed', () => {
    const w = mount(GeneratePanel, {
      props: {
        ...base,
        phase: 'completed',
        outcome: { holdId: 'h', held: 50, captured: 50, returned: 0, trialApplies: true },
      },
    });
    expect(w.get('[data-testid="job-completed"]').text()).toContain('50 credits spent');
  });

  it('offers the right buy button when the reserve was refused for lack of credits', () => {
    const error = new TRPCClientError('Not enough Image Credits.', {
      result: {
        error: {
          code: -32600,
          message: 'x',
          data: { reason: 'INSUFFICIENT_CREDITS', details: { action: 'buy_image_credits' } },
        },
      } as never,
    });
    const w = mount(GeneratePanel, { props: { ...base, phase: 'error', error } });
    expect(w.findAll('button').map((b) => b.text())).toEqual(['Generate', 'Buy Image Credits']);
  });

  it('cannot generate while busy or disabled', () => {
    expect(
      mount(GeneratePanel, { props: { ...base, phase: 'running' } })
        .get('[data-testid="generate"]')
        .attributes('disabled'),
    ).toBeDefined();
    expect(
      mount(GeneratePanel, { props: { ...base, disabled: true } })
        .get('[data-testid="generate"]')
        .attributes('disabled'),
    ).toBeDefined();
  });
});
