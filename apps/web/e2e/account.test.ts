// @vitest-environment node
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
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
const NEW_PASSWORD = 'velvet-otter-canyon-42';

/** Issue 12: the account security page and the reset page, in the real browser over http://127.0.0.1. */
suite(`browser: account security${SKIP ? ` (skipped: ${SKIP})` : ''}`, () => {
  let app: RunningApp;
  let browser: Browser;
  let laptop: BrowserContext;
  let phone: BrowserContext;
  let page: Page;

  beforeAll(async () => {
    await ensureBuilt();
    app = await startApp();
    browser = await launchBrowser();
    laptop = await newContext(browser, app.baseUrl);
    phone = await newContext(browser, app.baseUrl);
    page = await laptop.newPage();
    await signIn(page, DEMO.owner.email, DEMO.owner.password);
    await signIn(await phone.newPage(), DEMO.owner.email, DEMO.owner.password);
  }, 300_000);

  afterAll(async () => {
    await laptop?.close();
    await phone?.close();
    await browser?.close();
    await app?.stop();
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
    const me = await other.request.get(`${app.baseUrl}/trpc/auth.me`);
    expect(me.status()).toBe(401);

    await page.getByTestId('sign-out-everywhere').click();
    await page.waitForURL('**/signin');
    await signIn(page, DEMO.owner.email, NEW_PASSWORD);
  });

  it('the reset page: reached from sign-in, without a link it says how to get one; a made-up link is refused', async () => {
    const anon = await newContext(browser, app.baseUrl);
    try {
      const p = await anon.newPage();
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
    } finally {
      await anon.close();
    }
  });
});
