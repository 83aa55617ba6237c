// @vitest-environment node
import { expect, it } from 'vitest';
import { DEMO, browserSuite } from './harness';
import { checkPage } from './owner-kit';

/** Call a procedure with a bearer key, as a service would. */
async function callWithKey(base: string, key: string, path: string, input: unknown) {
  const res = await fetch(`${base}/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${key}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

browserSuite('API keys page', (s) => {
  it('an owner creates a key (shown once), a service spends with it, the page shows its last use and spend, revoking stops it', async () => {
    const problems: string[] = [];
    await s.ownerSession(async (page) => {
      await page
        .getByRole('navigation', { name: 'Main' })
        .getByRole('link', { name: 'Settings' })
        .click();
      await page.waitForURL('**/settings/**');
      await page.getByRole('link', { name: 'API keys' }).click();
      await page.waitForURL('**/settings/keys');
      await page.getByRole('heading', { name: 'API keys', exact: true }).waitFor();
      problems.push(...(await checkPage(page, 'settings-keys-empty')));

      // A name is required; the form says so.
      await page.getByRole('button', { name: 'Create key' }).click();
      await page.getByText('Give the key a name').waitFor();

      await page.getByLabel('Name').fill('render-farm');
      await page.getByRole('button', { name: 'Create key' }).click();
      const secret = (await page.getByTestId('new-key-secret').textContent())!.trim();
      expect(secret).toMatch(/^cw_ws_/);
      await page.getByRole('button', { name: 'Copy key' }).waitFor();
      problems.push(...(await checkPage(page, 'settings-keys-created')));

      // The key works through the API: a one-step charge of two hero images.
      const charged = await callWithKey(s.app.baseUrl, secret, 'usage.charge', {
        workspaceId: 'demo',
        job: { kind: 'image', type: 'hero', count: 2 },
        idempotencyKey: 'e2e-key-charge-1',
      });
      expect(charged.status).toBe(200);
      const credits = (charged.body.result as { data: { credits: number } }).data.credits;
      expect(credits).toBeGreaterThan(0);

      // Reloaded, the key shows when it was used and what it spent; the secret is gone.
      await page.reload();
      const row = page.locator('[data-key-name="render-farm"]');
      await row.waitFor();
      await expect(row.getByTestId('key-last-used').textContent()).resolves.not.toContain('Never');
      await expect(row.getByTestId('key-spent').textContent()).resolves.toContain(
        `${credits} Image Credits`,
      );
      await expect(page.getByTestId('new-key').count()).resolves.toBe(0);
      expect(await page.content()).not.toContain(secret);
      problems.push(...(await checkPage(page, 'settings-keys-list')));

      // Revoke: confirmed, then refused at once by the API.
      page.once('dialog', (d) => void d.accept());
      await row.getByRole('button', { name: 'Revoke render-farm' }).click();
      await row.getByTestId('key-revoked').waitFor();
      const after = await callWithKey(s.app.baseUrl, secret, 'usage.charge', {
        workspaceId: 'demo',
        job: { kind: 'image', type: 'hero', count: 1 },
        idempotencyKey: 'e2e-key-charge-2',
      });
      expect(after.status).toBe(401);
      problems.push(...(await checkPage(page, 'settings-keys-revoked')));
    });

    // A member sees that keys are for owners.
    await s.session(DEMO.member, async (mp) => {
      await mp.goto('/keys');
      await mp.waitForURL('**/settings/keys');
      await mp.getByTestId('keys-owners-only').waitFor();
      problems.push(...(await checkPage(mp, 'settings-keys-member')));
    });
    expect(problems).toEqual([]);
  });
});
