import { describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import { TRPCClientError } from '@trpc/client';
import EstimateSummary from './EstimateSummary.vue';
import { makeQuote } from '../test-fixtures';

describe('EstimateSummary', () => {
  it('shows the cost, its breakdown, the balance and no buy button when the wallet covers it', () => {
    const w = mount(EstimateSummary, {
      props: {
        wallet: 'video_credits',
        quote: makeQuote({ credits: 1_500, balance: 20_000, usable: 20_000 }),
      },
    });
    expect(w.get('[data-testid="estimate-credits"]').text()).toBe('1,500');
    expect(w.get('[data-testid="estimate-balance"]').text()).toBe('20,000');
    expect(w.text()).toContain('Standard Video, 720p: 5 s × 10');
    expect(w.find('[data-testid="insufficient"]').exists()).toBe(false);
    expect(w.findAll('button')).toHaveLength(0);
  });

  it('says when trial credits apply', () => {
    const w = mount(EstimateSummary, {
      props: { wallet: 'video_credits', quote: makeQuote({ trialApplies: true }) },
    });
    expect(w.get('[data-testid="trial-applies"]').text()).toBe('Trial credits apply');
    const n = mount(EstimateSummary, { props: { wallet: 'video_credits', quote: makeQuote() } });
    expect(n.find('[data-testid="trial-applies"]').exists()).toBe(false);
  });

  it('offers Buy Image Credits when an image job is short, never a generic upgrade', async () => {
    const quote = makeQuote({
      wallet: 'image_credits',
      credits: 8,
      balance: 0,
      usable: 0,
      sufficient: false,
      action: 'buy_image_credits',
    });
    const w = mount(EstimateSummary, { props: { wallet: 'image_credits', quote } });
    const buttons = w.findAll('button').map((b) => b.text());
    expect(buttons).toEqual(['Buy Image Credits']);
    expect(w.text()).not.toContain('Upgrade');
    expect(w.text()).toContain('you are 8 short');
    await w.get('button').trigger('click');
    expect(w.emitted('buy')?.[0]).toEqual(['buy_image_credits']);
  });

  it('offers Buy Video Credits when a video job is short', () => {
    const quote = makeQuote({
      credits: 250,
      balance: 200,
      usable: 200,
      sufficient: false,
      action: 'buy_video_credits',
    });
    const w = mount(EstimateSummary, { props: { wallet: 'video_credits', quote } });
    expect(w.findAll('button').map((b) => b.text())).toEqual(['Buy Video Credits']);
  });

  it("falls back to the wallet's own buy button when the API names no action", () => {
    const quote = makeQuote({
      credits: 250,
      balance: 0,
      usable: 0,
      sufficient: false,
      action: null,
    });
    const w = mount(EstimateSummary, { props: { wallet: 'video_credits', quote } });
    expect(w.findAll('button').map((b) => b.text())).toEqual(['Buy Video Credits']);
  });

  it('shows a plan limit as a plain message, without a buy button', () => {
    const error = new TRPCClientError('Video Edit is not available on the Free plan.', {
      result: {
        error: {
          code: -32003,
          message: 'x',
          data: { reason: 'FEATURE_UNAVAILABLE', code: 'FORBIDDEN' },
        },
      } as never,
    });
    const w = mount(EstimateSummary, { props: { wallet: 'video_credits', quote: null, error } });
    expect(w.text()).toContain('Not available on your plan.');
    expect(w.findAll('button')).toHaveLength(0);
  });

  it('says when the trial pays only part, and nothing about the trial when it pays none', () => {
    const part = mount(EstimateSummary, {
      props: {
        wallet: 'video_credits',
        quote: makeQuote({ credits: 40, trialApplies: false, trialCredits: 10 }),
      },
    });
    expect(part.find('[data-testid="trial-applies"]').exists()).toBe(false);
    expect(part.get('[data-testid="trial-part"]').text()).toBe('Trial credits pay 10');
    const none = mount(EstimateSummary, {
      props: { wallet: 'video_credits', quote: makeQuote({ trialApplies: false, usable: 0 }) },
    });
    expect(none.text()).not.toContain('Trial credits');
  });

  it('marks an estimate made for other inputs as pending: no trial claim, no shortfall', () => {
    const w = mount(EstimateSummary, {
      props: {
        wallet: 'video_credits',
        quote: makeQuote({ trialApplies: true, sufficient: false, usable: 0 }),
        pending: true,
      },
    });
    expect(w.get('[data-testid="estimate"]').attributes('data-state')).toBe('pending');
    expect(w.get('[data-testid="estimate"]').attributes('aria-busy')).toBe('true');
    expect(w.get('[data-testid="estimate-pending"]').text()).toContain('Updating the estimate');
    expect(w.find('[data-testid="trial-applies"]').exists()).toBe(false);
    expect(w.find('[data-testid="insufficient"]').exists()).toBe(false);
  });

  it('shows no estimate at all for invalid inputs', () => {
    const w = mount(EstimateSummary, {
      props: { wallet: 'video_credits', quote: makeQuote(), invalid: true },
    });
    expect(w.get('[data-testid="estimate"]').attributes('data-state')).toBe('invalid');
    expect(w.find('[data-testid="estimate-credits"]').exists()).toBe(false);
    expect(w.get('[data-testid="estimate-invalid"]').text()).toBe(
      'Fix the options to see what this costs.',
    );
  });

  it('says before Generate when a spending limit would refuse the job, with the action for this person', () => {
    const spendLimit = (action: 'raise_limit' | 'ask_owner' | null, wouldRefuse = true) => ({
      wouldRefuse,
      scope: 'workspace' as const,
      subjectId: null,
      limit: 100,
      used: 60,
      held: 30,
      needed: 50,
      resetsAt: Date.UTC(2026, 1, 15),
      action,
    });
    const member = mount(EstimateSummary, {
      props: {
        wallet: 'video_credits',
        quote: makeQuote({ credits: 50, spendLimit: spendLimit('ask_owner') }),
      },
    });
    const notice = member.get('[data-testid="limit-would-refuse"]');
    expect(notice.text()).toContain(
      'A spending limit stops this job. It needs 50 credits; 90 of the 100-credit limit are already spent or held this cycle (it resets on February 15). Generate stays off until the limit has room.',
    );
    expect(notice.get('[data-testid="ask-owner"]').text()).toBe(
      'Ask a workspace owner to raise the limit.',
    );
    expect(notice.find('[data-action="raise_limit"]').exists()).toBe(false);

    const owner = mount(EstimateSummary, {
      props: {
        wallet: 'video_credits',
        quote: makeQuote({ credits: 50, spendLimit: spendLimit('raise_limit') }),
      },
    });
    expect(owner.get('[data-action="raise_limit"]').attributes('href')).toBe(
      '/billing#spending-title',
    );
    // A limit with room says nothing; neither does a quote for other inputs (pending).
    const room = mount(EstimateSummary, {
      props: { wallet: 'video_credits', quote: makeQuote({ spendLimit: spendLimit(null, false) }) },
    });
    expect(room.find('[data-testid="limit-would-refuse"]').exists()).toBe(false);
    const stale = mount(EstimateSummary, {
      props: {
        wallet: 'video_credits',
        pending: true,
        quote: makeQuote({ spendLimit: spendLimit('ask_owner') }),
      },
    });
    expect(stale.find('[data-testid="limit-would-refuse"]').exists()).toBe(false);
  });
});
