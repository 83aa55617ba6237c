/**
 * Shared by the owners'-side browser tests: axe-core run in the page at both widths, and
 * screenshots at both widths into a directory of the caller's choosing.
 */
import { readFileSync, mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import type { Page } from 'playwright-core';
import { DESKTOP, PHONE, SCREENSHOTS } from './harness';

const require = createRequire(import.meta.url);
const AXE_SOURCE = readFileSync(require.resolve('axe-core/axe.min.js'), 'utf8');

/** Where the owners' pages are saved: `OWNER_SHOTS` or the harness's screenshot folder. */
export const OWNER_SHOTS = process.env.OWNER_SHOTS ?? SCREENSHOTS;

export interface AxeProblem {
  id: string;
  impact: string | null;
  help: string;
  targets: string[];
}

/** axe-core's serious and critical violations on the page as it is now. */
export async function axeSerious(page: Page): Promise<AxeProblem[]> {
  const has = await page.evaluate(() => 'axe' in window);
  // Evaluated through the debugger protocol, so the app's CSP (script-src 'self') stays on.
  if (!has) await page.evaluate(AXE_SOURCE);
  return page.evaluate(async () => {
    const axe = (
      window as unknown as {
        axe: {
          run: (
            ctx: Document,
            opts: object,
          ) => Promise<{
            violations: {
              id: string;
              impact: string | null;
              help: string;
              nodes: { target: string[] }[];
            }[];
          }>;
        };
      }
    ).axe;
    const r = await axe.run(document, { resultTypes: ['violations'] });
    return r.violations
      .filter((v) => v.impact === 'serious' || v.impact === 'critical')
      .map((v) => ({
        id: v.id,
        impact: v.impact,
        help: v.help,
        targets: v.nodes.map((n) => n.target.join(' ')),
      }));
  });
}

/**
 * At 1280×800 and 375×812: run axe (returning every serious or critical problem, labelled
 * with the width) and save `<name>.desktop.png` / `<name>.phone.png` (full page).
 */
export async function checkPage(page: Page, name: string): Promise<string[]> {
  mkdirSync(OWNER_SHOTS, { recursive: true });
  const original = page.viewportSize() ?? DESKTOP;
  const problems: string[] = [];
  for (const [label, size] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    await page.setViewportSize(size);
    await page.evaluate(() => window.scrollTo(0, 0));
    await page.waitForTimeout(150);
    for (const p of await axeSerious(page))
      problems.push(
        `${name} @${label}: ${p.impact} ${p.id} (${p.help}) at ${p.targets.join(', ')}`,
      );
    await page.screenshot({ path: join(OWNER_SHOTS, `${name}.${label}.png`), fullPage: true });
  }
  await page.setViewportSize(original);
  return problems;
}
