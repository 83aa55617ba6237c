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

  it('explains a spending limit refusal: members are told to ask an owner, owners may raise it', () => {
    const refused = (action: string) =>
      new TRPCClientError('limit', {
        result: {
          error: {
            code: -32012,
            message: 'x',
            data: {
              reason: 'SPEND_LIMIT_REACHED',
              details: {
                limit: 100,
                used: 60,
                held: 30,
                needed: 50,
                resetsAt: Date.UTC(2026, 1, 15),
                action,
              },
            },
          },
        } as never,
      });
    const member = mount(GeneratePanel, {
      props: { ...base, phase: 'error', error: refused('ask_owner') },
    });
    expect(member.get('[data-testid="limit-refused"]').text()).toContain(
      'It needs 50 credits; 90 of the 100-credit limit are already spent or held this cycle (it resets on February 15). Nothing was charged.',
    );
    expect(member.get('[data-testid="ask-owner"]').text()).toBe(
      'Ask a workspace owner to raise the limit.',
    );
    expect(member.find('[data-action="raise_limit"]').exists()).toBe(false);
    const owner = mount(GeneratePanel, {
      props: { ...base, phase: 'error', error: refused('raise_limit') },
    });
    expect(owner.get('[data-action="raise_limit"]').attributes('href')).toBe(
      '/billing#spending-title',
    );
    expect(owner.find('[data-testid="ask-owner"]').exists()).toBe(false);
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
