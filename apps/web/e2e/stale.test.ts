// @vitest-environment node
import { expect, it } from 'vitest';
import { DEMO, browserSuite, screenshots, signIn } from './harness';

/**
 * Issue 15: on a slow connection the Video Studio kept showing the previous inputs' estimate
 * ("50 credits, Trial credits apply") with Generate clickable. Here every quote is delayed by
 * a random 300–1,800 ms (so answers also arrive out of order) and a MutationObserver in the
 * page records every moment Generate is enabled: the estimate shown must then be the one made
 * for the inputs on screen, and its price must be what the API says for those inputs.
 */
browserSuite('studio estimates on a slow network', (s) => {
  it('never enables Generate while the shown estimate belongs to other inputs', async () => {
    await s.session(null, async (page) => {
      await page.addInitScript(() => {
        type Seen = {
          enabled: { job: string; credits: string; trial: boolean }[];
          violations: string[];
          pendingDisabled: number;
        };
        const seen: Seen = { enabled: [], violations: [], pendingDisabled: 0 };
        (window as unknown as { __seen: Seen }).__seen = seen;
        const check = () => {
          const root = document.querySelector('[data-testid="studio-estimate"]');
          const button = document.querySelector<HTMLButtonElement>('[data-testid="generate"]');
          if (!root || !button) return;
          const job = root.getAttribute('data-job') ?? '';
          const shownFor = root.getAttribute('data-estimate-for') ?? '';
          const state =
            document.querySelector('[data-testid="estimate"]')?.getAttribute('data-state') ?? '';
          const credits =
            document.querySelector('[data-testid="estimate-credits"]')?.textContent ?? '';
          const trial = document.querySelector('[data-testid="trial-applies"]') !== null;
          if (state !== 'current' && trial)
            seen.violations.push(`"Trial credits apply" shown while ${state}: ${job}`);
          if (button.disabled) {
            if (state === 'pending') seen.pendingDisabled++;
            return;
          }
          if (job === '' || shownFor !== job || state !== 'current' || credits === '')
            seen.violations.push(
              `Generate enabled: inputs ${job}, estimate for ${shownFor}, state ${state}, credits ${credits}`,
            );
          else seen.enabled.push({ job, credits, trial });
        };
        new MutationObserver(check).observe(document, {
          subtree: true,
          childList: true,
          attributes: true,
          characterData: true,
        });
      });

      await signIn(page, DEMO.owner.email, DEMO.owner.password);
      await page.goto('/studio/video');
      const estimate = page.getByTestId('estimate');
      await page.locator('[data-testid="estimate"][data-state="current"]').waitFor();
      await expect(estimate.getByTestId('estimate-credits').textContent()).resolves.toBe('50');
      // A finished job whose message must go once the inputs change.
      await page.getByTestId('generate').click();
      await page.getByTestId('job-completed').waitFor({ timeout: 20_000 });
      await page.locator('[data-testid="estimate"][data-state="current"]').waitFor();

      // From here every quote is slow, by a different amount each time.
      let delayed = 0;
      await page.route(
        (u) => u.pathname.startsWith('/trpc/') && u.pathname.includes('usage.quote'),
        async (route) => {
          delayed++;
          await new Promise((r) => setTimeout(r, 300 + Math.floor(Math.random() * 1500)));
          await route.continue();
        },
      );

      // An invalid length: no estimate, no old "Done", Generate disabled.
      await page.getByLabel('Length (seconds)').fill('0');
      await page.locator('[data-testid="estimate"][data-state="invalid"]').waitFor();
      expect(await page.getByTestId('estimate-credits').count()).toBe(0);
      expect(await page.getByTestId('job-completed').count()).toBe(0);
      expect(await page.getByTestId('generate').isDisabled()).toBe(true);
      await screenshots(page, 'video-studio-invalid-length');

      // The case: Premium 4K 30 s while the 5 s Standard estimate is still on screen.
      await page.getByLabel('Length (seconds)').fill('5');
      await page.locator('[data-testid="estimate"][data-state="current"]').waitFor();
      await page.getByLabel('Premium Video').check();
      await page.getByLabel('4k').check();
      await page.getByRole('button', { name: '30 s' }).click();
      await page.locator('[data-testid="estimate"][data-state="pending"]').waitFor();
      expect(await page.getByTestId('generate').isDisabled()).toBe(true);
      expect(await page.getByTestId('trial-applies').count()).toBe(0);
      await screenshots(page, 'video-studio-estimate-pending');

      // Quick changes, each answer slow and out of order, ending on an affordable job.
      for (const step of ['Standard Video', '1080p', '10 s', '720p', '15 s', '10 s']) {
        if (step.endsWith(' s')) await page.getByRole('button', { name: step }).click();
        else await page.getByLabel(step).check();
        await page.waitForTimeout(150 + Math.floor(Math.random() * 400));
      }
      await page.waitForFunction(
        () => !(document.querySelector('[data-testid="generate"]') as HTMLButtonElement).disabled,
        undefined,
        { timeout: 20_000 },
      );
      await expect(page.getByTestId('estimate-credits').textContent()).resolves.toBe('100');
      await screenshots(page, 'video-studio-estimate-current');

      const seen = await page.evaluate(
        () =>
          (
            window as unknown as {
              __seen: {
                enabled: { job: string; credits: string; trial: boolean }[];
                violations: string[];
                pendingDisabled: number;
              };
            }
          ).__seen,
      );
      expect(seen.violations).toEqual([]);
      expect(delayed).toBeGreaterThan(5);
      expect(seen.pendingDisabled).toBeGreaterThan(0);
      // Every estimate that Generate was enabled beside is the API's price for those inputs.
      await page.unroute(() => true);
      const distinct = new Map(seen.enabled.map((e) => [e.job, e]));
      expect(distinct.size).toBeGreaterThanOrEqual(2);
      for (const [job, shown] of distinct) {
        const q = await page.evaluate(
          async ({ job }) => {
            const input = encodeURIComponent(
              JSON.stringify({ workspaceId: 'demo', job: JSON.parse(job) as unknown }),
            );
            const r = await fetch(`/trpc/usage.quote?input=${input}`, {
              credentials: 'include',
              headers: { 'x-credits-csrf': '1' },
            });
            const body = (await r.json()) as { result?: { data: { credits: number } } };
            if (!body.result) throw new Error(`quote failed: ${JSON.stringify(body)}`);
            return body.result.data;
          },
          { job },
        );
        expect(shown.credits.replaceAll(',', '')).toBe(String(q.credits));
      }
    });
  });

  it('after paying, comes back to the studio the buyer came from, with the order and the new balance', async (t) => {
    await s.ownerSession(async (page) => {
      await page.goto('/studio/image');
      await page.getByLabel('Number of images').fill('100');
      const short = page.getByTestId('insufficient');
      await short.waitFor();
      await short.getByRole('button', { name: 'Buy Image Credits' }).click();
      const dialog = page.getByRole('dialog', { name: 'Buy Image Credits' });
      await dialog.getByTestId('packs').locator('label').last().click();
      await dialog.getByTestId('checkout').click();
      const refused = dialog.getByRole('alert');
      await Promise.race([
        page.waitForURL((u) => !u.pathname.startsWith('/studio')),
        refused.waitFor(),
      ]);
      if (page.url().includes('/studio'))
        t.skip(`checkout is not available on this server: ${await refused.textContent()}`);
      await page.getByRole('button', { name: /^Pay/ }).click();
      await page.waitForURL((u) => u.pathname === '/studio/image' && u.searchParams.has('order'));
      await page.getByTestId('order-paid').waitFor();
      // The studio's balance includes the pack (500 seeded + the 500 pack).
      await page.waitForFunction(
        () =>
          document.querySelector('[data-testid="image-balance"] strong')?.textContent === '1,000',
      );
      await screenshots(page, 'image-studio-after-paying');
    });
  });

  it('Usage: one job is one line, Recent usage names the wallet, filters say when they (not the data) are empty, the chart follows the dates', async () => {
    await s.ownerSession(async (page) => {
      // Each wallet card says what its balance buys, at the seeded prices (8 a hero image,
      // 50 a five-second Standard video at 720p).
      for (const [kind, each, words] of [
        ['image_credits', 8, 'hero images'],
        ['video_credits', 50, 'five-second Standard videos at 720p'],
      ] as const) {
        const card = page.locator(`[data-wallet="${kind}"]`);
        await card.getByTestId('buys').waitFor();
        const balance = Number(
          ((await card.getByTestId('balance').textContent()) ?? '').replaceAll(',', ''),
        );
        expect(await card.getByTestId('buys').textContent()).toBe(
          `At today's prices: about ${Math.floor(balance / each)} ${words}.`,
        );
      }
      // Billing's Recent usage has a Wallet column.
      const recent = page.locator('section[aria-labelledby="recent-title"]');
      await recent.getByTestId('history-table').waitFor();
      await recent.getByRole('columnheader', { name: 'Wallet' }).waitFor();

      // The first test generated one video (hold 50, spend 50): one line, 50 spent.
      await page.goto('/usage?wallet=video_credits');
      const table = page.getByTestId('history-table');
      const job = table.locator('tr[data-job]').first();
      await job.waitFor();
      expect(await job.getAttribute('data-type')).toBe('spend');
      expect((await job.getByTestId('row-amount').textContent())?.trim()).toMatch(/^-50\b/);
      await job.getByText(/Hold history/).click();
      expect(await job.locator('li').allTextContents()).toEqual([
        expect.stringMatching(/^Hold -50 credits/),
        expect.stringMatching(/^Spent -50 credits/),
      ]);
      expect(await table.locator('tr[data-type="hold"]').count()).toBe(0);
      await screenshots(page, 'usage-job-folded');

      // A filter that matches nothing says so.
      await page.goto('/usage?wallet=video_credits&type=refund');
      expect((await page.getByTestId('history-empty').textContent())?.trim()).toBe(
        'No entries match these filters.',
      );

      // The chart follows the date filter.
      await page.goto('/usage?wallet=video_credits&from=2026-01-01&to=2026-01-31');
      await expect(page.getByTestId('chart-range').textContent()).resolves.toBe(
        'Jan 1, 2026 – Jan 31, 2026',
      );
      await page.getByTestId('spend-chart').getByText('Video Credits spent: 0').waitFor();
      await page.goto('/usage?wallet=video_credits');
      await page.getByTestId('spend-chart').getByText('Video Credits spent: 50').waitFor();

      // From after To: the filter is what is empty, everywhere on the page.
      await page.goto('/usage?from=2026-03-10&to=2026-03-01');
      await page.getByTestId('range-invalid').waitFor();
      expect(await page.getByTestId('history-range-invalid').textContent()).toContain(
        'From is after To',
      );
      expect(await page.getByTestId('chart-range-invalid').textContent()).toContain(
        'From is after To',
      );
      expect(await page.getByText('No usage yet.').count()).toBe(0);
      await screenshots(page, 'usage-from-after-to');
    });
  });

  it('with the server down, navigation still works and every error offers Try again', async () => {
    await s.ownerSession(async (page) => {
      await page.getByTestId('wallets').waitFor();
      // Let the idle prefetch (from 2.5 s after the first page) bring every page's code.
      await page.waitForTimeout(7000);
      await page.route('**/*', (route) => route.abort('connectionrefused'));
      const nav = page.getByRole('navigation', { name: 'Main' });
      await nav.getByRole('link', { name: 'Usage', exact: true }).click();
      await page.waitForURL('**/usage');
      await page.getByRole('heading', { name: 'Usage', level: 1 }).waitFor();
      await page.getByRole('button', { name: 'Try again' }).first().waitFor({ timeout: 20_000 });
      await nav.getByRole('link', { name: 'Video Studio' }).click();
      await page.waitForURL('**/studio/video');
      await page.getByTestId('estimate-retry').waitFor({ timeout: 20_000 });
      await screenshots(page, 'video-studio-server-down');
      // Back up: Try again brings the estimate.
      await page.unroute('**/*');
      await page.getByTestId('estimate-retry').click();
      await page.locator('[data-testid="estimate"][data-state="current"]').waitFor();
    });
  });
});
