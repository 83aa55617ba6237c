import { describe, expect, it } from 'vitest';
import { config, mount } from '@vue/test-utils';
import WalletCard from './WalletCard.vue';
import { makeWallet } from '../test-fixtures';

// The AI Tokens card links to Plans; no router here.
config.global.stubs = { RouterLink: true };

const buttons = (w: ReturnType<typeof mount>) => w.findAll('button').map((b) => b.text());

describe('WalletCard', () => {
  it('shows label, used for, balance with separators, held, and the Active badge', () => {
    const w = mount(WalletCard, {
      props: { wallet: makeWallet({ kind: 'image_credits', balance: 12_500, held: 1_200 }) },
    });
    expect(w.find('h3').text()).toBe('Image Credits');
    expect(w.text()).toContain(
      'Image Generation and logo/image creation in CloudMySite Image Studio',
    );
    expect(w.get('[data-testid="balance"]').text()).toBe('12,500');
    expect(w.get('[data-testid="held"]').text()).toBe('1,200');
    expect(w.get('[data-testid="status-badge"]').text()).toBe('Active');
  });

  it('renders exactly the actions the API returns, with the help article labels', () => {
    expect(
      buttons(mount(WalletCard, { props: { wallet: makeWallet({ kind: 'image_credits' }) } })),
    ).toEqual(['Buy Image Credits', 'View Usage']);
    expect(
      buttons(mount(WalletCard, { props: { wallet: makeWallet({ kind: 'video_credits' }) } })),
    ).toEqual(['Buy Video Credits', 'View Usage']);
    const ai = makeWallet({
      kind: 'ai_tokens',
      balance: 0,
      status: 'empty',
      actions: ['view_usage', 'upgrade_plan'],
    });
    expect(buttons(mount(WalletCard, { props: { wallet: ai } }))).toEqual([
      'View Usage',
      'Upgrade plan',
    ]);
  });

  it.each([
    ['active', 'Active'],
    ['low', 'Low'],
    ['empty', 'Empty'],
  ] as const)('labels status %s as %s', (status, label) => {
    const w = mount(WalletCard, {
      props: { wallet: makeWallet({ kind: 'video_credits', status }) },
    });
    expect(w.get('[data-testid="status-badge"]').text()).toBe(label);
    expect(w.get('[data-testid="status-badge"]').classes()).toContain(`badge-${status}`);
  });

  it('shows Audio Credits as Coming Soon with no buttons and no balance', () => {
    const w = mount(WalletCard, { props: { wallet: makeWallet({ kind: 'audio_credits' }) } });
    expect(w.get('[data-testid="status-badge"]').text()).toBe('Coming Soon');
    expect(w.findAll('button')).toHaveLength(0);
    expect(w.find('[data-testid="balance"]').exists()).toBe(false);
  });

  it('emits the action with its wallet when a button is pressed', async () => {
    const wallet = makeWallet({ kind: 'video_credits' });
    const w = mount(WalletCard, { props: { wallet } });
    await w.get('[data-action="buy_video_credits"]').trigger('click');
    expect(w.emitted('action')?.[0]).toEqual(['buy_video_credits', wallet]);
  });

  it('shows the AI token cycle: used, plan limit as a progress bar, and the reset date', () => {
    const resetsAt = new Date(2026, 6, 1).getTime();
    const wallet = makeWallet({
      kind: 'ai_tokens',
      cycle: { usedThisCycle: 5_000, planLimit: 20_000, resetsAt },
    });
    const w = mount(WalletCard, { props: { wallet } });
    const cycle = w.get('[data-testid="cycle"]');
    expect(cycle.text()).toContain('5,000 of 20,000');
    expect(cycle.get('[role="progressbar"]').attributes('aria-valuenow')).toBe('25');
    expect(cycle.text()).toContain('Jul 1, 2026');
  });

  it('has no cycle block when the API sends none', () => {
    const w = mount(WalletCard, { props: { wallet: makeWallet({ kind: 'ai_tokens' }) } });
    expect(w.find('[data-testid="cycle"]').exists()).toBe(false);
  });

  it('after a grant, says the plan limit was used up and how much came from extra tokens', () => {
    const wallet = makeWallet({
      kind: 'ai_tokens',
      cycle: { usedThisCycle: 28_340, planLimit: 20_000, resetsAt: Date.now() },
    });
    const cycle = mount(WalletCard, { props: { wallet } }).get('[data-testid="cycle"]');
    expect(cycle.get('[data-testid="used-this-cycle"]').text()).toBe('28,340');
    expect(cycle.text()).not.toContain('28,340 of 20,000');
    expect(cycle.get('[data-testid="beyond-plan"]').text().replace(/\s+/g, ' ')).toBe(
      'All 20,000 plan tokens used; 8,340 more came from granted or bought tokens.',
    );
    expect(cycle.get('[role="progressbar"]').attributes('aria-valuenow')).toBe('100');
  });

  it('says Coming Soon once on the Audio card (the badge), not again as its use', () => {
    const w = mount(WalletCard, { props: { wallet: makeWallet({ kind: 'audio_credits' }) } });
    expect(w.text().match(/Coming Soon/g)).toHaveLength(1);
  });

  it("says what the balance buys, in the API's numbers", () => {
    const image = makeWallet({
      kind: 'image_credits',
      balance: 500,
      buys: {
        job: { kind: 'image', type: 'hero', count: 1, quality: 'standard' },
        each: 8,
        count: 62,
        ruleVersion: 1,
      },
    });
    expect(
      mount(WalletCard, { props: { wallet: image } })
        .get('[data-testid="buys"]')
        .text(),
    ).toBe("At today's prices: about 62 hero images.");
    const video = makeWallet({
      kind: 'video_credits',
      balance: 200,
      buys: {
        job: { kind: 'video', type: 'standard', durationSec: 5, resolution: '720p' },
        each: 50,
        count: 4,
        ruleVersion: 3,
      },
    });
    expect(
      mount(WalletCard, { props: { wallet: video } })
        .get('[data-testid="buys"]')
        .text(),
    ).toBe("At today's prices: about 4 five-second Standard videos at 720p.");
    const short = makeWallet({
      kind: 'video_credits',
      balance: 20,
      buys: { ...video.buys!, count: 0 },
    });
    expect(
      mount(WalletCard, { props: { wallet: short } })
        .get('[data-testid="buys"]')
        .text(),
    ).toBe('Not enough for one five-second Standard video at 720p (50 credits).');
    expect(
      mount(WalletCard, { props: { wallet: makeWallet({ kind: 'ai_tokens' }) } })
        .find('[data-testid="buys"]')
        .exists(),
    ).toBe(false);
  });
});
