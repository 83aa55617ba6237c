// @vitest-environment node
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { DEMO, browserSuite, screenshots } from './harness';

browserSuite('admin console', (s) => {
  let ctx: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    ({ ctx, page } = await s.signedIn(DEMO.admin));
  });

  afterAll(async () => {
    await ctx?.close();
  });

  it('finds a workspace, shows its wallets, lots and ledger, and grants credits with a reason', async () => {
    await page.goto('/admin/workspaces');
    await page.getByLabel('Find a workspace').fill('owner@demo.test');
    await page.getByRole('button', { name: 'Search' }).click();
    await page
      .getByTestId('ws-results')
      .getByRole('button', { name: /Demo workspace/ })
      .click();
    await page.getByRole('heading', { name: 'Lots' }).waitFor();
    await page.getByLabel('Amount').fill('25');
    await page.getByLabel('Reason').first().fill('Goodwill for a failed render');
    await page.getByRole('button', { name: 'Grant credits' }).click();
    const ok = page.getByRole('status').filter({ hasText: 'Granted 25 Image Credits' });
    await ok.waitFor();
    await screenshots(page, 'admin-workspace');

    await page.goto('/admin/audit');
    await page.getByTestId('audit-table').getByText('ledger.grant').first().waitFor();
    await screenshots(page, 'admin-audit');
  });

  it('lists service keys, and plans, packs and the wallet catalog', async () => {
    await page.goto('/admin/keys');
    await page.getByLabel('Name').fill('video-worker');
    await page.getByRole('button', { name: 'Create key' }).click();
    await page.getByText('Copy this key now').waitFor();
    await screenshots(page, 'admin-keys');

    await page.goto('/admin/catalog');
    await page.getByRole('heading', { name: 'Credit packs' }).waitFor();
    await page.getByText('image-100').waitFor();
    await screenshots(page, 'admin-catalog');
    expect(await page.getByRole('heading', { name: 'Wallet catalog' }).count()).toBe(1);
  });

  it('edits a price, sees the simulation, publishes, and the studio estimate changes', async (t) => {
    // The owner watches a hero image estimate in Image Studio (8 credits under the seeded rules).
    await s.ownerSession(async (owner) => {
      await owner.goto('/studio/image');
      const credits = owner.getByTestId('estimate-credits');
      await credits.waitFor();
      expect(await credits.textContent()).toBe('8');
      // One job under the old price, for the simulation to reprice.
      await owner.getByTestId('generate').click();
      await owner.getByTestId('job-completed').waitFor();

      await page.goto('/admin/rules');
      const editor = page.getByLabel('Rule document JSON');
      const failed = page.getByRole('alert').filter({ hasText: 'Could not load the rules' });
      await Promise.race([editor.waitFor(), failed.waitFor()]);
      if (await failed.count())
        t.skip(`admin.rules is not mounted in this API yet: ${await failed.textContent()}`);

      const hero = page.getByLabel('Hero image per image: credits per image');
      await hero.fill('10');
      await hero.press('Tab');
      const refused = page.getByTestId('rules-problems').filter({ hasText: 'allowMethodOverride' });
      // Validation of the whole document runs on the server: slow on a loaded 2-core machine.
      await Promise.race([
        page.getByTestId('accept-examples').waitFor({ timeout: 40_000 }),
        refused.waitFor({ timeout: 40_000 }),
      ]);
      if (await refused.count())
        t.skip('the server refuses rule documents as POST queries (allowMethodOverride is off)');
      // Examples priced with the old rate now fail; accept the draft's prices for them.
      await page.getByTestId('accept-examples').click();
      await page.getByTestId('rules-valid').waitFor();
      await page.getByTestId('diff').getByText('pricing.image').first().waitFor();

      await page.getByTestId('run-simulation').click();
      await page.getByTestId('simulation-report').waitFor();
      expect(await page.getByTestId('sim-changed').textContent()).toBe('1');
      expect(await page.getByTestId('sim-delta').textContent()).toBe('+2');
      await screenshots(page, 'admin-rules');

      await page.getByLabel('Reason', { exact: true }).fill('Hero images cost more to render');
      await page.getByTestId('publish-btn').click();
      await page.getByTestId('published').waitFor();
      await page.getByTestId('versions').getByText('Hero images cost more to render').waitFor();

      await owner.reload();
      await owner.waitForFunction(
        () => document.querySelector('[data-testid="estimate-credits"]')?.textContent === '10',
      );
      await screenshots(owner, 'image-studio-after-publish');

      // The wallet card's "what it buys" is priced by the rules just published (10 a hero image).
      await owner.goto('/billing');
      const image = owner.locator('[data-wallet="image_credits"]');
      await image.getByTestId('buys').waitFor();
      const balance = Number(
        ((await image.getByTestId('balance').textContent()) ?? '').replaceAll(',', ''),
      );
      expect(await image.getByTestId('buys').textContent()).toBe(
        `At today's prices: about ${Math.floor(balance / 10)} hero images.`,
      );
    });
  });

  it('after a rollback the editor shows the live version, and never publishes over it unseen', async (t) => {
    await page.goto('/admin/rules');
    const editor = page.getByLabel('Rule document JSON');
    const failed = page.getByRole('alert').filter({ hasText: 'Could not load the rules' });
    await Promise.race([editor.waitFor(), failed.waitFor()]);
    if (await failed.count())
      t.skip(`admin.rules is not mounted in this API yet: ${await failed.textContent()}`);
    const hero = page.getByLabel('Hero image per image: credits per image');
    const live = page.getByTestId('live-version');
    const versions = page.getByTestId('versions');
    const rollBack = async (to: number, why: string) => {
      await versions.getByRole('button', { name: `Roll back to v${to}` }).click();
      await versions.getByLabel(`Reason for rolling back to v${to}`).fill(why);
      await versions.getByRole('button', { name: 'Roll back', exact: true }).click();
      await versions.getByText(`Version ${to} is live again`).waitFor();
    };
    const liveNow = Number(((await live.textContent()) ?? '').replace('v', ''));
    expect(liveNow).toBeGreaterThanOrEqual(2);
    const heroLive = await hero.inputValue();

    // Untouched editor: a rollback reloads it with the live version's prices.
    await rollBack(1, 'customers complained');
    await page.waitForFunction(
      (v) => document.querySelector('[data-testid="live-version"]')?.textContent === `v${v}`,
      liveNow + 1,
    );
    await page.waitForFunction(
      () =>
        (
          document.querySelector(
            'input[aria-label="Hero image per image: credits per image"]',
          ) as HTMLInputElement | null
        )?.value === '8',
    );
    expect(await page.getByTestId('behind-live').count()).toBe(0);
    await page.getByTestId('publish').getByText('No differences.').waitFor();

    // An edit in progress, then someone rolls back again: the edit stays, with a warning, and
    // the changes compare it with the new live version.
    await hero.fill('12');
    await hero.press('Tab');
    await page.getByTestId('accept-examples').click();
    await page.getByTestId('rules-valid').waitFor();
    await page.getByTestId('diff').getByText('pricing.image').first().waitFor();
    await rollBack(liveNow, 'the raise was right');
    const warning = page.getByTestId('behind-live');
    await warning.waitFor();
    expect(await warning.textContent()).toContain(`v${liveNow + 2} is live now`);
    expect(await hero.inputValue()).toBe('12');
    await page
      .getByTestId('publish')
      .getByRole('heading', { name: `Changes from the live version (v${liveNow + 2})` })
      .waitFor();
    await page.getByTestId('diff').getByText('pricing.image').first().waitFor();
    await screenshots(page, 'admin-rules-behind-live');

    // Loading the live version puts its prices in the editor.
    await page.getByTestId('load-live').click();
    await page.waitForFunction(
      (want) =>
        (
          document.querySelector(
            'input[aria-label="Hero image per image: credits per image"]',
          ) as HTMLInputElement | null
        )?.value === want,
      heroLive,
    );
    await warning.waitFor({ state: 'detached' });
  });
});
