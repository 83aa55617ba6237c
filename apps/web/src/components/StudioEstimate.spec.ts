import { beforeEach, describe, expect, it, vi } from 'vitest';
import { flushPromises, mount } from '@vue/test-utils';
import { QueryClient, VueQueryPlugin } from '@tanstack/vue-query';
import StudioEstimate from './StudioEstimate.vue';
import { makeQuote } from '../test-fixtures';
import type { Job } from '../trpc';

/** Each quote call waits until the test lets it answer: a slow network, step by step. */
let pending: { job: Job; answer: () => void }[] = [];
const quote = vi.fn();
const reserve = vi.fn();
const capture = vi.fn();
vi.mock('../trpc', () => ({
  trpc: {
    usage: {
      quote: { query: (i: { job: Job }) => quote(i) },
      reserve: { mutate: (i: unknown) => reserve(i) },
      capture: { mutate: (i: unknown) => capture(i) },
      release: { mutate: vi.fn() },
    },
  },
}));

const priceOf = (job: Job) =>
  job.kind === 'video' ? job.durationSec * (job.type === 'premium' ? 40 : 10) : 1;
const video = (durationSec: number, type: 'standard' | 'premium' = 'standard'): Job => ({
  kind: 'video',
  type,
  durationSec,
  resolution: '720p',
});

function mountWith(job: Job | null) {
  return mount(StudioEstimate, {
    props: { workspaceId: 'ws', job, wallet: 'video_credits', what: 'video' },
    global: {
      plugins: [
        [
          VueQueryPlugin,
          { queryClient: new QueryClient({ defaultOptions: { queries: { retry: false } } }) },
        ],
      ],
    },
  });
}

const generate = (w: ReturnType<typeof mountWith>) => w.get('[data-testid="generate"]');

describe('StudioEstimate', () => {
  beforeEach(() => {
    pending = [];
    quote.mockReset();
    quote.mockImplementation(
      ({ job }: { job: Job }) =>
        new Promise((resolve) =>
          pending.push({
            job,
            answer: () =>
              resolve(
                makeQuote({
                  credits: priceOf(job),
                  balance: 5_000,
                  usable: 5_000,
                  trialApplies: priceOf(job) === 50,
                }),
              ),
          }),
        ),
    );
    reserve.mockReset();
    capture.mockReset();
  });

  it('keeps Generate disabled while the shown estimate belongs to other inputs', async () => {
    const w = mountWith(video(5));
    await flushPromises();
    expect(generate(w).attributes('disabled')).toBeDefined();
    pending.shift()!.answer();
    await flushPromises();
    expect(w.get('[data-testid="estimate-credits"]').text()).toBe('50');
    expect(w.find('[data-testid="trial-applies"]').exists()).toBe(true);
    expect(generate(w).attributes('disabled')).toBeUndefined();

    await w.setProps({ job: video(30, 'premium') });
    await flushPromises();
    // The old 50 is still on screen, dimmed and labelled, with no trial claim, and Generate is off.
    expect(w.get('[data-testid="estimate"]').attributes('data-state')).toBe('pending');
    expect(w.find('[data-testid="trial-applies"]').exists()).toBe(false);
    expect(generate(w).attributes('disabled')).toBeDefined();

    pending.shift()!.answer();
    await flushPromises();
    expect(w.get('[data-testid="estimate-credits"]').text()).toBe('1,200');
    expect(w.get('[data-testid="estimate"]').attributes('data-state')).toBe('current');
    expect(generate(w).attributes('disabled')).toBeUndefined();
    const root = w.get('[data-testid="studio-estimate"]');
    expect(root.attributes('data-estimate-for')).toBe(root.attributes('data-job'));
  });

  it('keeps Generate disabled when the quote says a spending limit would refuse the job', async () => {
    quote.mockImplementation(({ job }: { job: Job }) =>
      Promise.resolve(
        makeQuote({
          credits: priceOf(job),
          balance: 5_000,
          usable: 5_000,
          spendLimit: {
            wouldRefuse: priceOf(job) > 50,
            scope: 'member',
            subjectId: 'usr_mo',
            limit: 100,
            used: 50,
            held: 0,
            needed: priceOf(job),
            resetsAt: Date.UTC(2026, 1, 15),
            action: priceOf(job) > 50 ? 'ask_owner' : null,
          },
        }),
      ),
    );
    const w = mountWith(video(10));
    await flushPromises();
    expect(w.get('[data-testid="estimate-credits"]').text()).toBe('100');
    expect(w.find('[data-testid="limit-would-refuse"]').exists()).toBe(true);
    expect(generate(w).attributes('disabled')).toBeDefined();
    await generate(w).trigger('click');
    expect(reserve).not.toHaveBeenCalled();
    // A shorter job fits the limit: Generate is on again.
    await w.setProps({ job: video(5) });
    await flushPromises();
    expect(w.find('[data-testid="limit-would-refuse"]').exists()).toBe(false);
    expect(generate(w).attributes('disabled')).toBeUndefined();
  });

  it('an invalid length clears the old estimate and the old Done message', async () => {
    reserve.mockResolvedValue({ holdId: 'h1', credits: 50, trialApplies: true });
    capture.mockResolvedValue({ captured: 50, returned: 0 });
    const w = mountWith(video(5));
    await flushPromises();
    pending.shift()!.answer();
    await flushPromises();
    await generate(w).trigger('click');
    // The job runs ~1.2 s; every refresh it triggers asks for quotes, answered as they come.
    for (let i = 0; i < 100 && !w.find('[data-testid="job-completed"]').exists(); i++) {
      for (const p of pending.splice(0)) p.answer();
      await new Promise((r) => setTimeout(r, 50));
      await flushPromises();
    }
    expect(w.find('[data-testid="job-completed"]').exists()).toBe(true);

    await w.setProps({ job: null });
    await flushPromises();
    expect(w.find('[data-testid="estimate-credits"]').exists()).toBe(false);
    expect(w.find('[data-testid="job-completed"]').exists()).toBe(false);
    expect(w.get('[data-testid="estimate"]').attributes('data-state')).toBe('invalid');
    expect(generate(w).attributes('disabled')).toBeDefined();
  });
});
