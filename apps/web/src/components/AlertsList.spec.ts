import { beforeEach, describe, expect, it, vi } from 'vitest';
import { flushPromises, mount } from '@vue/test-utils';
import { QueryClient, VueQueryPlugin } from '@tanstack/vue-query';
import AlertsList from './AlertsList.vue';
import { makeWallet } from '../test-fixtures';

const list = vi.fn();
vi.mock('../trpc', () => ({
  trpc: {
    notifications: { list: { query: (i: unknown) => list(i) }, markRead: { mutate: vi.fn() } },
  },
}));

function note(id: number, wallet: string, kind: string, message: string) {
  return {
    id,
    workspaceId: 'ws',
    wallet,
    kind,
    balance: 0,
    message,
    createdAt: Date.now(),
    readAt: null,
    delivery: 'none',
    attempts: 0,
  };
}

async function mountWith(wallets: ReturnType<typeof makeWallet>[]) {
  list.mockResolvedValue([
    note(3, 'video_credits', 'empty', 'Video Credits are empty.'),
    note(2, 'ai_tokens', 'empty', 'AI Tokens are empty.'),
    note(1, 'image_credits', 'limit_threshold', 'Image spending reached 80% of its limit.'),
  ] as never);
  const w = mount(AlertsList, {
    props: { workspaceId: 'ws', wallets },
    global: {
      plugins: [[VueQueryPlugin, { queryClient: new QueryClient() }]],
    },
  });
  await flushPromises();
  return w;
}

describe('AlertsList', () => {
  beforeEach(() => list.mockReset());

  it('drops low and empty alerts that no longer hold once the wallets are refilled', async () => {
    const w = await mountWith([
      makeWallet({ kind: 'video_credits', balance: 2_020, status: 'active' }),
      makeWallet({ kind: 'ai_tokens', balance: 91_660, status: 'active' }),
    ]);
    const text = w.text();
    expect(text).not.toContain('Video Credits are empty');
    expect(text).not.toContain('AI Tokens are empty');
    expect(text).toContain('Image spending reached 80% of its limit.');
  });

  it('keeps an alert that still holds', async () => {
    const w = await mountWith([
      makeWallet({ kind: 'video_credits', balance: 0, status: 'empty' }),
      makeWallet({ kind: 'ai_tokens', balance: 91_660, status: 'active' }),
    ]);
    expect(w.text()).toContain('Video Credits are empty.');
    expect(w.text()).not.toContain('AI Tokens are empty');
  });

  it('shows nothing at all when every alert has resolved', async () => {
    list.mockResolvedValue([
      note(3, 'video_credits', 'empty', 'Video Credits are empty.'),
    ] as never);
    const w = mount(AlertsList, {
      props: {
        workspaceId: 'ws',
        wallets: [makeWallet({ kind: 'video_credits', balance: 200, status: 'active' })],
      },
      global: { plugins: [[VueQueryPlugin, { queryClient: new QueryClient() }]] },
    });
    await flushPromises();
    expect(w.find('[data-testid="alerts"]').exists()).toBe(false);
  });
});
