// @vitest-environment node
import { expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DEMO, PHONE, browserSuite } from './harness';
import { checkPage } from './owner-kit';

/** The development service key the test server accepts (NODE_ENV=test). */
const SERVICE_KEY = 'dev-service-key-change-me';

async function call(base: string, path: string, input: unknown) {
  const res = await fetch(`${base}/trpc/${path}`, {
    method: 'POST',
    headers: { authorization: `Bearer ${SERVICE_KEY}`, 'content-type': 'application/json' },
    body: JSON.stringify(input),
  });
  if (!res.ok) throw new Error(`${path}: ${res.status} ${await res.text()}`);
  return ((await res.json()) as { result: { data: unknown } }).result.data;
}

/** The header's nav links and account controls as laid out: boxes, and whether text is cut. */
async function headerLayout(page: Page) {
  return page.evaluate(() => {
    const box = (el: Element) => {
      const r = el.getBoundingClientRect();
      return { left: r.left, right: r.right, top: r.top, bottom: r.bottom };
    };
    const bar = document.querySelector('.app-header .bar')!;
    const links = [...document.querySelectorAll<HTMLElement>('.app-header nav a')].map((a) => ({
      text: a.textContent!.trim(),
      ...box(a),
    }));
    const who = document.querySelector<HTMLElement>('[data-testid="account-link"]')!;
    const select = document.querySelector<HTMLSelectElement>('#workspace-switcher')!;
    const ctx = document.createElement('canvas').getContext('2d')!;
    ctx.font = getComputedStyle(select).font;
    return {
      bar: box(bar),
      links,
      account: [who, select, ...document.querySelectorAll('.app-header .account button')].map(box),
      nameCut: who.scrollWidth > who.clientWidth,
      // The chosen workspace's name fits in the select (its text plus room for the arrow).
      selectCut: ctx.measureText(select.selectedOptions[0]!.text).width > select.clientWidth - 24,
    };
  });
}
const overlaps = (a: { left: number; right: number; top: number; bottom: number }, b: typeof a) =>
  a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;

browserSuite('header', (s) => {
  it('at 1280×800 an admin owner with two workspaces sees every page link on one row and the workspace and name uncut; at 375×812 the menu lists them; axe clean', async () => {
    // The admin also owns the demo workspace and one with a long name: every nav item shows.
    await call(s.app.baseUrl, 'workspaces.addMember', {
      workspaceId: 'demo',
      email: DEMO.admin.email,
      role: 'owner',
    });
    await call(s.app.baseUrl, 'admin.workspaces.create', {
      id: 'northwind-creative',
      name: 'Northwind Creative Studio Europe',
      plan: 'pro',
      idempotencyKey: 'e2e-header-ws',
    });
    await call(s.app.baseUrl, 'workspaces.addMember', {
      workspaceId: 'northwind-creative',
      email: DEMO.admin.email,
      role: 'owner',
    });
    await s.session(DEMO.admin, async (page) => {
      await page.getByTestId('workspace-switcher').selectOption('northwind-creative');
      await page.getByRole('link', { name: 'Admin', exact: true }).waitFor();
      const d = await headerLayout(page);
      expect(d.links.map((l) => l.text)).toEqual([
        'Billing & Usage',
        'Usage',
        'Image Studio',
        'Video Studio',
        'Settings',
        'Admin',
      ]);
      // One row of links, inside the bar, none on top of another or of the account controls.
      expect(new Set(d.links.map((l) => Math.round(l.top))).size).toBe(1);
      for (const l of d.links) expect(l.right).toBeLessThanOrEqual(d.bar.right);
      for (const [i, a] of d.links.entries()) {
        for (const b of d.links.slice(i + 1)) expect(overlaps(a, b)).toBe(false);
        for (const c of d.account) expect(overlaps(a, c)).toBe(false);
      }
      expect({ nameCut: d.nameCut, selectCut: d.selectCut }).toEqual({
        nameCut: false,
        selectCut: false,
      });
      const problems = await checkPage(page, 'header-admin-owner');

      await page.setViewportSize(PHONE);
      await page.getByRole('button', { name: 'Menu' }).click();
      for (const name of [
        'Billing & Usage',
        'Usage',
        'Image Studio',
        'Video Studio',
        'Settings',
        'Admin',
      ])
        await page.getByRole('link', { name, exact: true }).waitFor();
      const m = await headerLayout(page);
      expect(new Set(m.links.map((l) => Math.round(l.left))).size).toBe(1); // a column
      expect(problems).toEqual([]);
    });
  });
});
