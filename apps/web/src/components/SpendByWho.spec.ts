import { describe, expect, it } from 'vitest';
import { mount } from '@vue/test-utils';
import SpendByWho, { type SpendGroup } from './SpendByWho.vue';

const groups: SpendGroup[] = [
  {
    id: 'usr_mo',
    label: 'Mo Member',
    detail: 'mo@example.com',
    total: 120,
    wallets: [
      { wallet: 'video_credits', spent: 100 },
      { wallet: 'image_credits', spent: 20 },
    ],
  },
  {
    id: null,
    label: 'API keys and services',
    detail: null,
    total: 1500,
    wallets: [{ wallet: 'ai_tokens', spent: 1500 }],
  },
];

describe('SpendByWho', () => {
  it('one row per member, a column per wallet anyone spent from, tokens apart from credits', () => {
    const w = mount(SpendByWho, { props: { groups, groupBy: 'member' } });
    const heads = w.findAll('thead th').map((th) => th.text());
    expect(heads).toEqual(['Member', 'AI Tokens', 'Image Credits', 'Video Credits']);
    const rows = w.findAll('tbody tr').map((tr) => tr.findAll('th, td').map((c) => c.text()));
    expect(rows).toEqual([
      ['Mo Membermo@example.com', '—', '20 credits', '100 credits'],
      ['API keys and services', '1,500 tokens', '—', '—'],
    ]);
    expect(w.find('tbody tr').attributes('data-who')).toBe('usr_mo');
    expect(w.findAll('tbody tr')[1]!.attributes('data-who')).toBe('others');
  });

  it('by API key, the first column says so', () => {
    const w = mount(SpendByWho, {
      props: {
        groups: [{ ...groups[0]!, id: 'key_1', label: 'Render farm', detail: 'cw_live_ab' }],
        groupBy: 'apiKey',
      },
    });
    expect(w.find('thead th').text()).toBe('API key');
    expect(w.find('caption').text()).toContain('API key');
  });

  it('empty: filters that match nothing are not "no usage"', () => {
    const filtered = mount(SpendByWho, {
      props: { groups: [], groupBy: 'member', filtered: true },
    });
    expect(filtered.get('[data-testid="by-who-empty"]').text()).toBe(
      'No usage matches these filters.',
    );
    const none = mount(SpendByWho, { props: { groups: [], groupBy: 'member' } });
    expect(none.get('[data-testid="by-who-empty"]').text()).toBe('No usage yet in these dates.');
  });
});
