// @vitest-environment node
import { expect, it } from 'vitest';
import { DEMO, browserSuite, screenshots } from './harness';
import { checkPage } from './owner-kit';

browserSuite('spending controls on Billing', (s) => {
  it('an owner sets a hard limit, saves a card and turns auto top-up on; a member reads it all and edits nothing', async () => {
    await s.ownerSession(async (page) => {
      await page.goto('/billing');
      const video = page.locator('[data-spending-wallet="video_credits"]');
      await video.getByText('No limit: jobs may spend whatever the wallet holds.').waitFor();

      // A hard limit of 100 Video Credits for the whole workspace.
      await video.getByRole('button', { name: 'Add a limit' }).click();
      await video.getByTestId('limit-amount').fill('100');
      await video.getByTestId('limit-save').click();
      const limit = video.getByTestId('limit');
      await limit.waitFor();
      await expect(limit.getByTestId('limit-usage').textContent()).resolves.toBe('0 of 100');
      await expect(limit.textContent()).resolves.toContain('Hard limit');

      // Save a card on the sandbox's page, and come back.
      const controls = page.getByTestId('spending-controls');
      await controls.getByRole('button', { name: 'Save a card' }).click();
      await page.waitForURL('**/checkout/sandbox/setup/**');
      await screenshots(page, 'sandbox-save-card');
      await page.getByRole('button', { name: 'Save card ending 4242 (pays)' }).click();
      await page.waitForURL('**/billing?card=saved');
      await expect(controls.getByTestId('payment-method').textContent()).resolves.toContain(
        'Card for auto top-up: Sandbox card ending 4242',
      );
      await controls.getByRole('button', { name: 'Dismiss' }).click();
      await page.waitForURL((u) => !u.search.includes('card='));

      // Auto top-up: the terms shown are what is agreed to.
      await video.getByTestId('auto-top-up-edit').click();
      await video.getByTestId('auto-top-up-threshold').fill('40');
      await video.getByTestId('auto-top-up-cap').fill('30');
      const terms = video.getByTestId('auto-top-up-terms');
      await terms.waitFor();
      const shown = await terms.textContent();
      expect(shown).toContain('falls below 40');
      expect(shown).toContain('at most $30.00 per billing cycle');
      await screenshots(page, 'billing-auto-top-up-terms');
      await video.getByTestId('auto-top-up-agree').check();
      await video.getByTestId('auto-top-up-enable').click();
      await video.getByTestId('consent-terms').waitFor();
      await expect(video.getByTestId('consent-terms').textContent()).resolves.toBe(shown);
      await expect(video.getByTestId('auto-top-up-state').textContent()).resolves.toBe('On');
      await screenshots(page, 'billing-spending-controls-owner');
    });

    await s.session(DEMO.member, async (mp) => {
      await mp.goto('/billing');
      const controls = mp.getByTestId('spending-controls');
      await controls.getByText('Only workspace owners can change them.').waitFor();
      const video = mp.locator('[data-spending-wallet="video_credits"]');
      await video.getByTestId('limit').waitFor();
      await expect(video.getByTestId('limit-usage').textContent()).resolves.toBe('0 of 100');
      await expect(video.getByTestId('auto-top-up-state').textContent()).resolves.toBe('On');
      await expect(video.getByTestId('consent-terms').textContent()).resolves.toContain(
        'falls below 40',
      );
      await expect(controls.locator('button').count()).resolves.toBe(0);
      await screenshots(mp, 'billing-spending-controls-member');
    });
  });

  it('a member hits the limit in Video Studio (estimate first, on a slow network) and is told to ask an owner; the owner sees the alert and who spent', async () => {
    // The owner set a hard limit of 100 Video Credits in the test above.
    // Each page this shows is checked with axe (serious or critical) at 1280×800 and 375×812.
    const problems: string[] = [];
    await s.session(DEMO.member, async (mp) => {
      await mp.goto('/studio/video');
      const estimate = mp.getByTestId('estimate');
      const generate = mp.getByTestId('generate');
      // Two 5-second jobs of 50 credits fit the limit exactly.
      for (let i = 1; i <= 2; i++) {
        await mp.waitForFunction(
          () =>
            document.querySelector('[data-testid="estimate"]')?.getAttribute('data-state') ===
              'current' &&
            !document.querySelector('[data-testid="generate"]')?.hasAttribute('disabled'),
        );
        await expect(estimate.getByTestId('estimate-credits').textContent()).resolves.toBe('50');
        await generate.click();
        await mp.getByTestId('job-completed').waitFor({ timeout: 20_000 });
      }

      // A slow network: every quote answers 1.5 s late. Generate stays off until the estimate
      // for the inputs on screen arrives, and then it says the limit stops the job.
      let delayed = 0;
      await mp.route(
        (url) => url.pathname.startsWith('/trpc/') && url.pathname.includes('usage.quote'),
        async (route) => {
          delayed += 1;
          await new Promise((r) => setTimeout(r, 1500));
          await route.continue();
        },
      );
      await mp.getByLabel('Length (seconds)').fill('6');
      await estimate.getByTestId('estimate-credits').waitFor();
      const stops = estimate.getByTestId('limit-would-refuse');
      // While the new estimate is on its way, nothing claims the job can run.
      expect(await generate.isDisabled()).toBe(true);
      await stops.waitFor({ timeout: 20_000 });
      expect(delayed).toBeGreaterThan(0);
      const said = await stops.textContent();
      expect(said).toContain('A spending limit stops this job.');
      expect(said).toContain('100 of the 100-credit limit are already spent or held this cycle');
      await expect(stops.getByTestId('ask-owner').textContent()).resolves.toContain(
        'Ask a workspace owner to raise the limit.',
      );
      await expect(stops.locator('[data-action="raise_limit"]').count()).resolves.toBe(0);
      expect(await generate.isDisabled()).toBe(true);
      await mp.unroute(
        (url) => url.pathname.startsWith('/trpc/') && url.pathname.includes('usage.quote'),
      );
      problems.push(...(await checkPage(mp, 'video-studio-limit-member')));
    });

    await s.ownerSession(async (page) => {
      await page.goto('/billing');
      // The bell: the 100 % alert of the workspace's hard limit.
      await page.getByTestId('bell-count').waitFor();
      await page.getByTestId('bell').click();
      const panel = page.getByTestId('bell-panel');
      await panel.getByText(/100% of the hard spending limit/).waitFor();
      problems.push(...(await checkPage(page, 'billing-limit-alert-owner')));
      await page.keyboard.press('Escape');
      // Billing: the limit is used up, and each threshold says it was sent.
      const video = page.locator('[data-spending-wallet="video_credits"]');
      await expect(video.getByTestId('limit-usage').textContent()).resolves.toBe('100 of 100');
      await expect(video.getByTestId('limit').textContent()).resolves.toContain('100% (sent)');

      // The owner's studio offers to raise the limit, linking to Billing's Spending controls.
      await page.goto('/studio/video');
      const stops = page.getByTestId('estimate').getByTestId('limit-would-refuse');
      await stops.waitFor();
      await expect(stops.locator('[data-action="raise_limit"]').getAttribute('href')).resolves.toBe(
        '/billing#spending-title',
      );
      problems.push(...(await checkPage(page, 'video-studio-limit-owner')));
      // Buying more credits does not lift the limit: the dialog says so.
      await page.goto('/billing');
      await page
        .locator('[data-wallet="video_credits"]')
        .getByRole('button', { name: 'Buy Video Credits' })
        .click();
      const full = page.getByTestId('buy-limit-full');
      await full.waitFor();
      await expect(full.textContent()).resolves.toContain('The spending limit is reached.');
      problems.push(...(await checkPage(page, 'buy-dialog-limit-owner')));
      await page.getByRole('button', { name: 'Cancel' }).click();

      // Usage: who spent what — the member's two jobs, by member.
      await page.goto('/usage');
      const table = page.getByTestId('by-who-table');
      await table.waitFor();
      const row = table.locator('tbody tr').first();
      await expect(row.locator('th').textContent()).resolves.toContain('Demo Member');
      await expect(row.locator('td').allTextContents()).resolves.toContain('100 credits');
      problems.push(...(await checkPage(page, 'usage-by-member')));
      // Narrowed to the owner, who spent nothing: the filters match nothing (not "no usage").
      const ownerOption = await page
        .getByTestId('filter-who')
        .locator('option', { hasText: 'Demo Owner' })
        .getAttribute('value');
      await page.getByTestId('filter-who').selectOption(ownerOption!);
      await page.getByTestId('by-who-empty').getByText('No usage matches these filters.').waitFor();
      await page
        .getByTestId('history-empty')
        .getByText('No entries match these filters.')
        .waitFor();
      problems.push(...(await checkPage(page, 'usage-filtered-empty')));
      // By API key (owners): no key spent, so everything is the members'.
      await page.getByRole('button', { name: 'Clear filters' }).click();
      await page.getByLabel('By API key').check();
      await table.locator('tr[data-who="others"]').waitFor();
      await expect(table.locator('thead th').first().textContent()).resolves.toBe('API key');
    });
    expect(problems).toEqual([]);
  });
});
