// @vitest-environment node
import { expect, it } from 'vitest';
import { readFileSync } from 'node:fs';
import { browserSuite } from './harness';
import { checkPage } from './owner-kit';

browserSuite('receipts', (s) => {
  it('a paid order has a receipt page linked from Purchases, and its PDF downloads', async () => {
    const problems: string[] = [];
    await s.ownerSession(async (page) => {
      const video = page.locator('[data-wallet="video_credits"]');
      await video.getByRole('button', { name: 'Buy Video Credits' }).click();
      const dialog = page.getByRole('dialog', { name: 'Buy Video Credits' });
      await dialog.getByTestId('checkout').click();
      await page.waitForURL((u) => !u.pathname.startsWith('/billing'));
      await page.getByRole('button', { name: /^Pay/ }).click();
      await page.waitForURL('**/billing?order=*');
      const orderId = new URL(page.url()).searchParams.get('order')!;
      await page.getByTestId('order-paid').waitFor();

      await page.getByTestId('receipt-link').first().click();
      await page.waitForURL(`**/purchases/${orderId}/receipt`);
      const receipt = page.getByTestId('receipt');
      await receipt.waitFor();
      await expect(page.getByTestId('receipt-order').textContent()).resolves.toBe(orderId);
      await expect(page.getByTestId('receipt-pack').textContent()).resolves.toBe(
        '200 Video Credits',
      );
      const text = (await receipt.textContent()) ?? '';
      for (const want of ['$10.00', 'USD', 'Demo workspace', 'sandbox', 'Paid'])
        expect(text).toContain(want);
      problems.push(...(await checkPage(page, 'receipt')));

      const [download] = await Promise.all([
        page.waitForEvent('download'),
        page.getByTestId('receipt-pdf').click(),
      ]);
      expect(download.suggestedFilename()).toBe(`receipt-${orderId}.pdf`);
      const bytes = readFileSync((await download.path())!);
      expect(bytes.subarray(0, 5).toString('latin1')).toBe('%PDF-');
      expect(bytes.length).toBeGreaterThan(800);
      expect(bytes.toString('latin1')).toContain(`Receipt ${orderId}`);

      // Another workspace's caller, or no order: nothing.
      const anon = await fetch(`${s.app.baseUrl}/receipts/${orderId}.pdf?workspaceId=demo`);
      expect(anon.status).toBe(401);
      const missing = await page.request.get(`/receipts/ord_nope.pdf?workspaceId=demo`);
      expect(missing.status()).toBe(404);
    });
    expect(problems).toEqual([]);
  });
});
