// @vitest-environment node
import { expect, it } from 'vitest';
import { DEMO, browserSuite } from './harness';
import { checkPage } from './owner-kit';

/** The development service key the test server accepts (NODE_ENV=test). */
const SERVICE_KEY = 'dev-service-key-change-me';

async function call(base: string, path: string, input: unknown) {
  const res = await fetch(`${base}/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { result: { data: unknown } }).result.data;
}

browserSuite('notifications', (s) => {
  it('a low alert appears in the bell and resolves after a purchase; the webhook log shows each attempt and Resend', async () => {
    const problems: string[] = [];
    await s.ownerSession(async (page) => {
      await page.getByTestId('bell').waitFor();
      await expect(page.getByTestId('bell-count').count()).resolves.toBe(0);

      // A service spends Image Credits from 500 down to 20 (the low threshold): heroes at 8
      // each, fewer than 10 per job (no volume discount): 6 × 9 + 6 = 60 heroes, 480 credits.
      for (const [i, count] of [9, 9, 9, 9, 9, 9, 6].entries())
        await call(s.app.baseUrl, 'usage.charge', {
          workspaceId: 'demo',
          job: { kind: 'image', type: 'hero', count },
          idempotencyKey: `e2e-low-${i}`,
        });
      const wallet = (await call(s.app.baseUrl, 'wallets.get', {
        workspaceId: 'demo',
        wallet: 'image_credits',
      })) as { balance: number; status: string };
      expect(wallet).toMatchObject({ balance: 20, status: 'low' });

      await page.reload();
      const count = page.getByTestId('bell-count');
      await count.waitFor();
      await expect(count.textContent()).resolves.toBe('1');
      await expect(page.getByTestId('bell').getAttribute('aria-label')).resolves.toBe(
        'Notifications, 1 unread',
      );
      await page.getByTestId('bell').click();
      const panel = page.getByTestId('bell-panel');
      await panel.getByText('Image Credits are low: 20 left.').waitFor();
      problems.push(...(await checkPage(page, 'bell-open-low')));
      await page.keyboard.press('Escape');

      // Buy a pack through the sandbox checkout: the alert resolves by itself.
      const image = page.locator('[data-wallet="image_credits"]');
      await image.getByRole('button', { name: 'Buy Image Credits' }).click();
      const dialog = page.getByRole('dialog', { name: 'Buy Image Credits' });
      await dialog.getByTestId('checkout').click();
      await page.waitForURL((u) => !u.pathname.startsWith('/billing'));
      await page.getByRole('button', { name: /^Pay/ }).click();
      await page.waitForURL('**/billing?order=*');
      await page.getByTestId('order-paid').waitFor();
      await page.reload();
      await page.getByTestId('bell').waitFor();
      await expect.poll(() => page.getByTestId('bell-count').count()).toBe(0);
      await page.getByTestId('bell').click();
      const item = page.getByTestId('bell-panel').locator('li').first();
      await expect(item.textContent()).resolves.toContain('Image Credits are low: 20 left.');
      await item.getByTestId('resolved').waitFor();
      problems.push(...(await checkPage(page, 'bell-open-resolved')));

      // Settings › Notifications: a webhook, its log, Resend, a rotated secret.
      await page.getByRole('link', { name: 'Notification settings' }).click();
      await page.waitForURL('**/settings/notifications');
      await page.getByTestId('alerts-table').getByText('Resolved').waitFor();
      await page.getByLabel('Webhook URL').fill('https://credits-hooks.example.com/in');
      await page.getByRole('button', { name: 'Save webhook' }).click();
      const firstSecret = (await page.getByTestId('hook-secret').locator('code').textContent())!;
      expect(firstSecret).toMatch(/^whsec_/);
      // The alert was recorded before the webhook was set: sent only when asked.
      await page
        .getByRole('button', { name: /^Resend alert/ })
        .first()
        .click();
      await page.getByText('The alert will be sent again within a few seconds.').waitFor();
      // The sweeper posts it (this machine reaches no such host): one attempt in the log.
      const result = page.getByTestId('delivery-result').first();
      await result.waitFor({ timeout: 30_000 });
      await expect(result.textContent()).resolves.toMatch(/could not connect|timed out|HTTP \d+/);
      await page
        .getByRole('button', { name: /^Resend delivery/ })
        .first()
        .click();
      await expect.poll(() => page.getByTestId('delivery').count(), { timeout: 30_000 }).toBe(2);
      page.once('dialog', (d) => void d.accept());
      await page.getByRole('button', { name: 'Rotate secret' }).click();
      await expect
        .poll(() => page.getByTestId('hook-secret').locator('code').textContent())
        .not.toBe(firstSecret);
      problems.push(...(await checkPage(page, 'settings-notifications')));
    });

    // A member sees the bell and the alerts, not the webhook.
    await s.session(DEMO.member, async (mp) => {
      await mp.goto('/settings/notifications');
      await mp.getByText('Only workspace owners can change where alerts are sent.').waitFor();
      await expect(mp.getByLabel('Webhook URL').count()).resolves.toBe(0);
      problems.push(...(await checkPage(mp, 'settings-notifications-member')));
    });
    expect(problems).toEqual([]);
  });
  it('an owner raises Video Credits’ low threshold above the balance: the card reads Low and the bell gets the alert; lowering it resolves the alert; a member only reads the thresholds', async () => {
    const problems: string[] = [];
    // The demo's 200 purchased Video Credits and the trial's 50.
    const { balance } = (await call(s.app.baseUrl, 'wallets.get', {
      workspaceId: 'demo',
      wallet: 'video_credits',
    })) as { balance: number };
    expect(balance).toBe(250);
    const videoAlert = `Video Credits are low: ${balance} left.`;
    await s.ownerSession(async (page) => {
      const video = page.locator('[data-wallet="video_credits"]');
      await expect(video.getByTestId('status-badge').textContent()).resolves.toBe('Active');

      await page.goto('/settings/notifications');
      const input = page.getByLabel('Low threshold for Video Credits');
      await expect.poll(() => input.inputValue()).toBe('20');
      await input.fill('300');
      await page.getByRole('button', { name: 'Save Video Credits threshold' }).click();
      await page.locator('[data-threshold="video_credits"]').getByText('(yours is set)').waitFor();
      await page.getByTestId('alerts-table').getByText(videoAlert).waitFor();
      problems.push(...(await checkPage(page, 'settings-notifications-thresholds')));

      await page.goto('/billing');
      await expect.poll(() => video.getByTestId('status-badge').textContent()).toBe('Low');
      await page.getByTestId('bell').click();
      const item = page.getByTestId('bell-panel').locator('li', { hasText: videoAlert });
      await item.waitFor();
      await expect(item.getByTestId('resolved').count()).resolves.toBe(0);
      await page.keyboard.press('Escape');

      // Lowered below the balance: the alert resolves, the card is Active again.
      await page.goto('/settings/notifications');
      await expect.poll(() => input.inputValue()).toBe('300');
      await input.fill('50');
      await page.getByRole('button', { name: 'Save Video Credits threshold' }).click();
      await expect
        .poll(() =>
          page
            .getByTestId('alerts-table')
            .locator('tr', { hasText: videoAlert })
            .locator('td[data-label="State"]')
            .textContent(),
        )
        .toBe('Resolved');
      await page.goto('/billing');
      await expect.poll(() => video.getByTestId('status-badge').textContent()).toBe('Active');
      await page.getByTestId('bell').click();
      await page
        .getByTestId('bell-panel')
        .locator('li', { hasText: videoAlert })
        .getByTestId('resolved')
        .waitFor();
    });

    await s.session(DEMO.member, async (mp) => {
      await mp.goto('/settings/notifications');
      await mp.locator('[data-threshold="video_credits"]').getByText('50').first().waitFor();
      await expect(mp.getByLabel('Low threshold for Video Credits').count()).resolves.toBe(0);
      await expect(
        mp.getByRole('button', { name: 'Save Video Credits threshold' }).count(),
      ).resolves.toBe(0);
    });
    expect(problems).toEqual([]);
  });
});
