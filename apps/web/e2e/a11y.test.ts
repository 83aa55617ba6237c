// @vitest-environment node
import { createRequire } from 'node:module';
import { readFileSync } from 'node:fs';
import { expect, it } from 'vitest';
import type { Page } from 'playwright-core';
import { DEMO, DESKTOP, PHONE, browserSuite, screenshots, type Account } from './harness';

const AXE_SOURCE = readFileSync(
  createRequire(import.meta.url).resolve('axe-core/axe.min.js'),
  'utf8',
);

interface Finding {
  page: string;
  width: number;
  id: string;
  impact: string;
  targets: string[];
}

/** axe-core in the page: every serious or critical violation, with where it is. */
async function axe(page: Page, name: string): Promise<Finding[]> {
  await page.addScriptTag({ content: AXE_SOURCE });
  const width = page.viewportSize()?.width ?? 0;
  const violations = await page.evaluate(async () => {
    const w = window as unknown as {
      axe: {
        run: (
          ctx: Document,
          opts: object,
        ) => Promise<{
          violations: { id: string; impact: string | null; nodes: { target: string[] }[] }[];
        }>;
      };
    };
    // label-content-name-mismatch is one of axe's experimental rules: asked for by name.
    const r = await w.axe.run(document, {
      resultTypes: ['violations'],
      rules: { 'label-content-name-mismatch': { enabled: true } },
    });
    return r.violations.map((v) => ({
      id: v.id,
      impact: v.impact ?? 'unknown',
      targets: v.nodes.map((n) => n.target.join(' ')),
    }));
  });
  return violations
    .filter((v) => v.impact === 'serious' || v.impact === 'critical')
    .map((v) => ({ page: name, width, ...v }));
}

/**
 * Issue 15: axe-core on every page at 1280×800 and 375×812, 0 serious or critical (the brand
 * link's label-content-name-mismatch and the usage chart's role-img-alt were found). Each
 * page is also photographed at both widths.
 */
browserSuite('accessibility of every page', (s) => {
  async function visitAll(
    who: Account | null,
    pages: { path: string; name: string; ready: (p: Page) => Promise<unknown> }[],
  ): Promise<Finding[]> {
    const findings: Finding[] = [];
    for (const viewport of [DESKTOP, PHONE]) {
      // axe is injected as an inline script, which the app's CSP (rightly) refuses.
      await s.session(
        who,
        async (page) => {
          for (const p of pages) {
            await page.goto(p.path);
            await p.ready(page);
            await page.waitForTimeout(300);
            findings.push(...(await axe(page, p.name)));
            if (viewport === DESKTOP) await screenshots(page, `a11y-${p.name}`);
          }
        },
        { viewport, bypassCSP: true },
      );
    }
    return findings;
  }

  const heading = (p: Page) => p.locator('h1').first().waitFor();
  /** The chart and who spent what (a table, or its empty state) have loaded. */
  const usageReady = async (p: Page) => {
    await p.getByTestId('spend-chart').waitFor();
    await p.locator('[data-testid="by-who-table"], [data-testid="by-who-empty"]').first().waitFor();
  };

  it('signed out: sign-in, sign-up, reset', async () => {
    const findings = await visitAll(null, [
      { path: '/signin', name: 'signin', ready: heading },
      { path: '/signup', name: 'signup', ready: heading },
      { path: '/reset', name: 'reset', ready: heading },
    ]);
    expect(findings).toEqual([]);
  });

  it('an owner: Billing, Usage, the studios, Plans, account and settings pages', async () => {
    const findings = await visitAll(DEMO.owner, [
      { path: '/billing', name: 'billing', ready: (p) => p.getByTestId('wallets').waitFor() },
      {
        path: '/usage',
        name: 'usage',
        ready: usageReady,
      },
      {
        path: '/studio/image',
        name: 'image-studio',
        ready: (p) => p.getByTestId('estimate-credits').waitFor(),
      },
      {
        path: '/studio/video',
        name: 'video-studio',
        ready: (p) => p.getByTestId('estimate-credits').waitFor(),
      },
      {
        path: '/plans',
        name: 'plans',
        ready: (p) => p.getByTestId('plans-table').waitFor(),
      },
      { path: '/account/security', name: 'account-security', ready: heading },
      { path: '/settings/members', name: 'settings-members', ready: heading },
      { path: '/settings/notifications', name: 'settings-notifications', ready: heading },
      { path: '/settings/keys', name: 'settings-keys', ready: heading },
      { path: '/no-such-page', name: 'not-found', ready: heading },
    ]);
    expect(findings).toEqual([]);
  });

  it('an admin: every admin page', async () => {
    const findings = await visitAll(DEMO.admin, [
      { path: '/admin/workspaces', name: 'admin-workspaces', ready: heading },
      {
        path: '/admin/rules',
        name: 'admin-rules',
        ready: (p) => p.getByLabel('Rule document JSON').waitFor(),
      },
      { path: '/admin/catalog', name: 'admin-catalog', ready: heading },
      { path: '/admin/audit', name: 'admin-audit', ready: heading },
      { path: '/admin/keys', name: 'admin-keys', ready: heading },
    ]);
    expect(findings).toEqual([]);
  });

  it('a member: Billing, Usage, Plans (read only) and the admin refusal', async () => {
    const findings = await visitAll(DEMO.member, [
      {
        path: '/billing',
        name: 'billing-member',
        ready: (p) => p.getByTestId('wallets').waitFor(),
      },
      { path: '/usage', name: 'usage-member', ready: usageReady },
      {
        path: '/plans',
        name: 'plans-member',
        ready: (p) => p.getByTestId('plans-table').waitFor(),
      },
      {
        path: '/admin',
        name: 'admin-denied',
        ready: (p) => p.getByTestId('admins-only').waitFor(),
      },
    ]);
    expect(findings).toEqual([]);
  });
});
