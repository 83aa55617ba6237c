// @vitest-environment node
import { expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DEMO, browserSuite } from './harness';
import { checkPage } from './owner-kit';

/** The AI Tokens card's plan limit on Billing, as the owner reads it ("5,000,000"). */
async function billingPlanLimit(page: Page): Promise<string> {
  await page.goto('/billing');
  const card = page.locator('[data-wallet="ai_tokens"]');
  const limit = card.getByTestId('plan-limit');
  await limit.waitFor();
  return ((await limit.textContent()) ?? '').trim();
}

/**
 * Issue 15, build 5 (plans): the demo owner (Pro, 1,000,000 AI Tokens a cycle) upgrades to
 * Business through the sandbox checkout, and Billing's AI Tokens card shows Business's limit at
 * once; a downgrade scheduled for the next reset shows its date and can be cancelled; a member
 * reads the comparison without any button. axe at both widths, screenshots of each state.
 */
browserSuite('plans', (s) => {
  it('an upgrade through the sandbox raises the AI Token limit at once; a downgrade is scheduled with its date and cancelled', async () => {
    const problems: string[] = [];
    await s.ownerSession(async (page) => {
      expect(await billingPlanLimit(page)).toBe('1,000,000');

      // From Billing's header to the comparison.
      await page.getByTestId('plans-link').click();
      await page.waitForURL('**/plans');
      const table = page.getByTestId('plans-table');
      await table.waitFor();
      const rows = table.locator('tbody tr');
      await expect(
        rows.evaluateAll((r) => r.map((e) => e.getAttribute('data-plan'))),
      ).resolves.toEqual(['free', 'starter', 'pro', 'business']);
      const pro = table.locator('[data-plan="pro"]');
      await expect(pro.getByTestId('current-badge').textContent()).resolves.toBe('Current plan');
      await expect(pro.textContent()).resolves.toContain('1,000,000');
      await expect(pro.textContent()).resolves.toContain('Video Edit');
      await expect(pro.textContent()).resolves.toContain('$49.00 / month');
      await expect(pro.locator('button').count()).resolves.toBe(0);
      problems.push(...(await checkPage(page, 'plans')));

      // Upgrade: checkout → the sandbox page → Pay → back on Plans with the new limit.
      await table
        .locator('[data-plan="business"]')
        .getByRole('button', { name: 'Upgrade to Business' })
        .click();
      await page.waitForURL((u) => u.pathname.startsWith('/checkout/sandbox/'));
      await expect(page.textContent('body')).resolves.toContain(
        'Business plan (5,000,000 AI Tokens per cycle)',
      );
      await page.getByRole('button', { name: /^Pay/ }).click();
      await page.waitForURL('**/plans?order=*');
      await page.getByTestId('order-paid').waitFor();
      await expect(page.getByTestId('order-paid').textContent()).resolves.toContain(
        'Business plan',
      );
      await expect
        .poll(async () =>
          table.locator('[data-plan="business"]').getByTestId('current-badge').count(),
        )
        .toBe(1);
      await expect
        .poll(async () => (await page.getByTestId('plan-limit').textContent())?.trim())
        .toBe('5,000,000');
      problems.push(...(await checkPage(page, 'plans-upgraded')));

      // Billing's AI Tokens card says the same at once, and the header names the plan.
      expect(await billingPlanLimit(page)).toBe('5,000,000');
      await expect(page.locator('.page-head .plan').textContent()).resolves.toBe('business');
      problems.push(...(await checkPage(page, 'billing-after-upgrade')));

      // A downgrade to Starter at the next reset: its date, then cancelled.
      await page.goto('/plans');
      await table.waitFor();
      await table
        .locator('[data-plan="starter"]')
        .getByRole('button', { name: 'Downgrade to Starter' })
        .click();
      const pending = page.getByTestId('pending-downgrade');
      await pending.waitFor();
      const text = (await pending.textContent()) ?? '';
      expect(text).toMatch(/Changes to Starter on [A-Z][a-z]{2} \d{1,2}, \d{4}\./);
      await expect(
        table.locator('[data-plan="starter"]').getByTestId('scheduled-badge').textContent(),
      ).resolves.toMatch(/^From /);
      // Nothing changes before the reset.
      await expect(page.getByTestId('plan-limit').textContent()).resolves.toBe('5,000,000');
      problems.push(...(await checkPage(page, 'plans-downgrade-scheduled')));
      await page.getByTestId('cancel-downgrade').click();
      await pending.waitFor({ state: 'detached' });
      await expect(
        table
          .locator('[data-plan="starter"]')
          .getByRole('button', { name: 'Downgrade to Starter' })
          .count(),
      ).resolves.toBe(1);
    });
    expect(problems).toEqual([]);
  });

  it('a member reads the comparison with no Upgrade or Downgrade buttons', async () => {
    const problems: string[] = [];
    await s.session(DEMO.member, async (page) => {
      await page.goto('/plans');
      const table = page.getByTestId('plans-table');
      await table.waitFor();
      await expect(table.locator('tbody tr').count()).resolves.toBe(4);
      await expect(table.locator('button').count()).resolves.toBe(0);
      await expect(page.getByRole('button', { name: /Upgrade|Downgrade/ }).count()).resolves.toBe(
        0,
      );
      await expect(page.getByTestId('owner-only').textContent()).resolves.toContain(
        'Only a workspace owner can change the plan.',
      );
      problems.push(...(await checkPage(page, 'plans-member')));
    });
    expect(problems).toEqual([]);
  });
});
