// @vitest-environment node
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { BrowserContext, Page } from 'playwright-core';
import { DEMO, browserSuite, screenshots, signIn } from './harness';

const NEW_PASSWORD = 'velvet-otter-canyon-42';

/** Issue 12: the account security page and the reset page, in the real browser over http://127.0.0.1. */
browserSuite('account security', (s) => {
  let laptop: BrowserContext;
  let phone: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    ({ ctx: laptop, page } = await s.signedIn(DEMO.owner));
    ({ ctx: phone } = await s.signedIn(DEMO.owner));
  });

  afterAll(async () => {
    await laptop?.close();
    await phone?.close();
  });

  it('the __Host- Secure session cookie works over http://127.0.0.1', async () => {
    const cookies = await laptop.cookies();
    expect(cookies.map((c) => [c.name, c.secure, c.httpOnly])).toContainEqual([
      '__Host-cw_session',
      true,
      true,
    ]);
  });

  it('lists both devices, changes the password (the other device is signed out), then signs out everywhere', async () => {
    // Reached from the header: the person's name links to their account security page.
    await page.goto('/billing');
    await page.getByTestId('account-link').click();
    await page.waitForURL('**/account/security');
    await expect.poll(async () => page.getByTestId('sessions').locator('li').count()).toBe(2);
    await expect.poll(async () => page.getByText('This device').count()).toBe(1);
    await screenshots(page, 'account-security');

    await page.getByLabel('Current password').fill(DEMO.owner.password);
    await page.getByLabel('New password', { exact: true }).fill('aaaaaaaaaa');
    await page.getByLabel('New password again').fill('aaaaaaaaaa');
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByText(/too easy to guess/).waitFor();

    await page.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD);
    await page.getByLabel('New password again').fill(NEW_PASSWORD);
    await page.getByRole('button', { name: 'Change password' }).click();
    await page.getByTestId('password-changed').waitFor();
    await expect.poll(async () => page.getByTestId('sessions').locator('li').count()).toBe(1);
    await expect
      .poll(async () => page.getByTestId('security-events').innerText())
      .toContain('Password changed');
    const other = await phone.newPage();
    const me = await other.request.get(`${s.app.baseUrl}/trpc/auth.me`);
    expect(me.status()).toBe(401);

    await page.getByTestId('sign-out-everywhere').click();
    await page.waitForURL('**/signin');
    await signIn(page, DEMO.owner.email, NEW_PASSWORD);
  });

  it('the reset page: reached from sign-in, without a link it says how to get one; a made-up link is refused', async () => {
    await s.session(null, async (p) => {
      await p.goto('/signin');
      await p.getByRole('link', { name: 'Forgot your password?' }).click();
      await p.waitForURL('**/reset');
      await p.getByText('To reset a forgotten password you need a reset link.').waitFor();
      await p.goto('/reset?token=' + 'x'.repeat(43));
      await p.getByLabel('New password', { exact: true }).fill(NEW_PASSWORD + '!');
      await p.getByLabel('New password again').fill(NEW_PASSWORD + '!');
      await p.getByRole('button', { name: 'Set new password' }).click();
      await p.getByText(/This reset link is not valid/).waitFor();
      await screenshots(p, 'reset-password');
    });
  });
});
