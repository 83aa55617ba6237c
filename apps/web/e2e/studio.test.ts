// @vitest-environment node
import { readFile } from 'node:fs/promises';
import { expect, it } from 'vitest';
import { DEMO, SCREENSHOTS, browserSuite, screenshots, signUp } from './harness';

browserSuite('sign-up, Billing & Usage and the studios', (s) => {
  it('signs up, sees the trial, generates a 5-second Standard Video at 720p on trial credits, and finds it in the history', async () => {
    await s.session(null, async (page) => {
      await page.goto('/signin');
      await screenshots(page, 'signin');
      await page.goto('/signup');
      await screenshots(page, 'signup');
      await signUp(page, {
        name: 'Tess Trial',
        email: `tess-${Date.now()}@example.test`,
        password: 'correct-horse-battery',
      });

      const banner = page.getByTestId('trial-banner');
      await expect(banner.textContent()).resolves.toContain(
        'Free trial includes one 5-second Standard Video at 720p.',
      );
      const video = page.locator('[data-wallet="video_credits"]');
      await expect(video.getByTestId('balance').textContent()).resolves.toBe('50');
      await expect(video.locator('button').allTextContents()).resolves.toEqual([
        'Buy Video Credits',
        'View Usage',
      ]);
      const image = page.locator('[data-wallet="image_credits"]');
      await expect(image.locator('button').allTextContents()).resolves.toEqual([
        'Buy Image Credits',
        'View Usage',
      ]);
      await expect(image.getByTestId('status-badge').textContent()).resolves.toBe('Empty');
      const audio = page.locator('[data-wallet="audio_credits"]');
      await expect(audio.getByTestId('status-badge').textContent()).resolves.toBe('Coming Soon');
      await expect(audio.locator('button').count()).resolves.toBe(0);
      await screenshots(page, 'billing-new-workspace');

      await page.getByRole('link', { name: 'Video Studio' }).first().click();
      await page.waitForURL('**/studio/video');
      const estimate = page.getByTestId('estimate');
      await estimate.getByTestId('estimate-credits').waitFor();
      await expect(estimate.getByTestId('estimate-credits').textContent()).resolves.toBe('50');
      await estimate.getByTestId('trial-applies').waitFor();
      await screenshots(page, 'video-studio');

      await page.getByTestId('generate').click();
      await page.getByTestId('job-completed').waitFor({ timeout: 20_000 });
      await page.waitForFunction(
        () => document.querySelector('[data-testid="video-balance"] strong')?.textContent === '0',
      );

      await page.goto('/usage?wallet=video_credits');
      const table = page.getByTestId('history-table');
      await table.waitFor();
      // One job, one line: Spent with its final amount, the hold folded inside.
      const job = table.locator('tr[data-job][data-type="spend"]').first();
      await job.waitFor();
      expect(await job.getByTestId('row-amount').textContent()).toContain('-50');
      await job.locator('[data-testid="job-steps"] li[data-type="hold"]').waitFor({
        state: 'attached',
      });
      await page.getByTestId('jobs-table').waitFor();
      await page.getByTestId('spend-chart').getByText('Video Credits spent: 50').waitFor();
      await screenshots(page, 'usage');

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByTestId('download-csv').click(),
      ]);
      expect(download.suggestedFilename()).toMatch(/\.csv$/);
      const csv = await readFile((await download.path())!, 'utf8');
      expect(csv.split('\n')[0]).toContain('balance_after');
      expect(csv).toContain('spend');
    });
  });

  it('offers Buy Image Credits, not a generic upgrade, when an image estimate is short', async () => {
    await s.session(null, async (page) => {
      await signUp(page, {
        name: 'Ivy Image',
        email: `ivy-${Date.now()}@example.test`,
        password: 'correct-horse-battery',
      });
      await page.goto('/studio/image');
      const short = page.getByTestId('insufficient');
      await short.waitFor();
      await expect(short.locator('button').allTextContents()).resolves.toEqual([
        'Buy Image Credits',
      ]);
      await expect(page.getByText('Upgrade plan').count()).resolves.toBe(0);
      await screenshots(page, 'image-studio-short');
      await short.locator('button').click();
      await page.getByRole('dialog', { name: 'Buy Image Credits' }).waitFor();
      await screenshots(page, 'buy-dialog');
    });
  });

  it('shows returned credits when a simulated job fails', async () => {
    await s.ownerSession(async (page) => {
      await screenshots(page, 'billing');
      await page.goto('/studio/image');
      await page.getByLabel('Number of images').fill('2');
      await page.getByTestId('estimate-credits').waitFor();
      const before = await page.getByTestId('image-balance').locator('strong').textContent();
      await screenshots(page, 'image-studio');
      await page.getByTestId('simulate-failure').check();
      await page.getByTestId('generate').click();
      const failed = page.getByTestId('job-failed');
      await failed.waitFor({ timeout: 20_000 });
      expect(await failed.getByTestId('returned-credits').textContent()).toMatch(
        /^\d[\d,]* credits returned$/,
      );
      await page.waitForFunction(
        (b) => document.querySelector('[data-testid="image-balance"] strong')?.textContent === b,
        before,
      );

      await page.goto('/usage?wallet=image_credits&type=return');
      const row = page.locator('[data-testid="history-table"] tr[data-type="return"]').first();
      await row.waitFor();
      await expect(row.textContent()).resolves.toContain('Returned credits');
    });
  });

  it('keeps a member out of the admin console', async () => {
    await s.session(DEMO.member, async (page) => {
      await expect(page.getByRole('link', { name: 'Admin' }).count()).resolves.toBe(0);
      await page.goto('/admin');
      await page.getByTestId('admins-only').waitFor();
      await screenshots(page, 'admin-denied');

      // On a phone the navigation folds into a menu button that opens it.
      await page.setViewportSize({ width: 375, height: 812 });
      const menu = page.getByRole('button', { name: 'Menu' });
      expect(await menu.getAttribute('aria-expanded')).toBe('false');
      await menu.click();
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Usage', exact: true })
        .waitFor();
      await page.screenshot({ path: `${SCREENSHOTS}/menu-open.phone.png` });
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Usage', exact: true })
        .click();
      await page.waitForURL('**/usage');
    });
  });

  it('buys a pack through the sandbox checkout, and a declined payment adds nothing', async (t) => {
    await s.ownerSession(async (page) => {
      const image = page.locator('[data-wallet="image_credits"]');
      const balance = async () =>
        Number(((await image.getByTestId('balance').textContent()) ?? '').replaceAll(',', ''));
      await image.getByTestId('balance').waitFor();
      const before = await balance();

      await image.getByRole('button', { name: 'Buy Image Credits' }).click();
      const dialog = page.getByRole('dialog', { name: 'Buy Image Credits' });
      const first = dialog.getByTestId('packs').locator('label').first();
      await first.waitFor();
      const packCredits = Number(
        ((await first.locator('.pack-credits').textContent()) ?? '').replace(/[^\d]/g, ''),
      );
      await screenshots(page, 'buy-dialog-packs');
      await dialog.getByTestId('checkout').click();
      const refused = dialog.getByRole('alert');
      await Promise.race([
        page.waitForURL((u) => !u.pathname.startsWith('/billing')),
        refused.waitFor(),
      ]);
      if (page.url().includes('/billing'))
        t.skip(`checkout is not available on this server yet: ${await refused.textContent()}`);

      await screenshots(page, 'checkout-sandbox');
      await page.getByRole('button', { name: /^Pay/ }).click();
      await page.waitForURL('**/billing?order=*');
      await page.getByTestId('order-paid').waitFor();
      await page.waitForFunction(
        (want) =>
          document
            .querySelector('[data-wallet="image_credits"] [data-testid="balance"]')
            ?.textContent?.replaceAll(',', '') === String(want),
        before + packCredits,
      );
      await screenshots(page, 'billing-order-paid');

      await image.getByRole('button', { name: 'Buy Image Credits' }).click();
      await dialog.getByTestId('checkout').click();
      await page.waitForURL((u) => !u.pathname.startsWith('/billing'));
      await page.getByRole('button', { name: /^Decline/ }).click();
      await page.waitForURL('**/billing?order=*');
      await page.getByTestId('order-declined').waitFor();
      expect(await balance()).toBe(before + packCredits);
    });
  });
});
