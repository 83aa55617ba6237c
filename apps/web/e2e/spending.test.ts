// @vitest-environment node
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import {
  DEMO,
  SKIP,
  ensureBuilt,
  launchBrowser,
  newContext,
  screenshots,
  signIn,
  startApp,
  type RunningApp,
} from './harness';

const suite = SKIP ? describe.skip : describe;

suite(`browser: spending controls on Billing${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  let app: RunningApp;
  let browser: Browser;

  beforeAll(async () => {
    await ensureBuilt();
    app = await startApp();
    browser = await launchBrowser();
  }, 300_000);

  afterAll(async () => {
    await browser?.close();
    await app?.stop();
  });

  it('an owner sets a hard limit, saves a card and turns auto top-up on; a member reads it all and edits nothing', async () => {
    const owner = await newContext(browser, app.baseUrl);
    const page = await owner.newPage();
    try {
      await signIn(page, DEMO.owner.email, DEMO.owner.password);
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
    } finally {
      await owner.close();
    }

    const member = await newContext(browser, app.baseUrl);
    const mp = await member.newPage();
    try {
      await signIn(mp, DEMO.member.email, DEMO.member.password);
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
    } finally {
      await member.close();
    }
  });
});
