/**
 * Browser-test harness: builds the web app once (or reuses a fresh dist), starts the real
 * server as a child process on a random port with a throwaway SQLite file and the demo
 * seed, and drives Debian's Chromium through playwright-core.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe } from 'vitest';

export const WEB_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const REPO_ROOT = resolve(WEB_ROOT, '../..');
export const DIST = join(WEB_ROOT, 'dist');
export const SCREENSHOTS = join(WEB_ROOT, 'screenshots');
export const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';

/** Why the browser tests cannot run here, or null when they can. */
export function skipReason(): string | null {
  if (process.env.SKIP_BROWSER_TESTS === '1') return 'SKIP_BROWSER_TESTS=1';
  if (!existsSync(CHROMIUM)) return `no Chromium at ${CHROMIUM} (apt-get install chromium)`;
  return null;
}

export const SKIP = skipReason();
if (SKIP) console.warn(`[web e2e] browser tests skipped: ${SKIP}`);

function newestMtime(path: string): number {
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let newest = st.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name.endsWith('.spec.ts') || name.endsWith('.test.ts')) continue;
    newest = Math.max(newest, newestMtime(join(path, name)));
  }
  return newest;
}

function distIsFresh(): boolean {
  const index = join(DIST, 'index.html');
  if (!existsSync(index)) return false;
  const inputs = ['src', 'public', 'index.html', 'vite.config.ts', 'package.json']
    .map((p) => join(WEB_ROOT, p))
    .filter((p) => existsSync(p));
  return statSync(index).mtimeMs >= Math.max(...inputs.map(newestMtime));
}

/** Build once across parallel test files: a lock directory marks a build in progress. */
export async function ensureBuilt(): Promise<void> {
  const lock = join(tmpdir(), 'credits-web-build.lock');
  const deadline = Date.now() + 240_000;
  for (;;) {
    if (distIsFresh() && !existsSync(lock)) return;
    try {
      mkdirSync(lock);
    } catch {
      // another worker is building; a lock older than 4 minutes is stale
      if (Date.now() > deadline) throw new Error('timed out waiting for the web build');
      try {
        if (Date.now() - statSync(lock).mtimeMs > 240_000)
          rmSync(lock, { recursive: true, force: true });
      } catch {
        // gone already
      }
      await new Promise((r) => setTimeout(r, 500));
      continue;
    }
    try {
      if (!distIsFresh()) {
        const r = spawnSync('pnpm', ['exec', 'vite', 'build', '--logLevel', 'warn'], {
          cwd: WEB_ROOT,
          stdio: 'pipe',
          encoding: 'utf8',
        });
        if (r.status !== 0) throw new Error(`vite build failed:\n${r.stdout}\n${r.stderr}`);
      }
      return;
    } finally {
      rmSync(lock, { recursive: true, force: true });
    }
  }
}

function freePort(): Promise<number> {
  return new Promise((ok, fail) => {
    const s = createServer();
    s.once('error', fail);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      const port = typeof a === 'object' && a ? a.port : 0;
      s.close(() => ok(port));
    });
  });
}

export interface RunningApp {
  baseUrl: string;
  stop(): Promise<void>;
}

/** `node --import tsx apps/server/src/main.ts serve --seed-demo` with its own database and port. */
export async function startApp(): Promise<RunningApp> {
  const dir = mkdtempSync(join(tmpdir(), 'credits-web-e2e-'));
  const port = await freePort();
  const child: ChildProcess = spawn(
    process.execPath,
    ['--import', 'tsx', 'apps/server/src/main.ts', 'serve', '--seed-demo'],
    {
      cwd: REPO_ROOT,
      env: {
        ...process.env,
        NODE_ENV: 'test',
        DATABASE_URL: `sqlite:${join(dir, 'x.db')}`,
        PORT: String(port),
        HOST: '127.0.0.1',
        WEB_DIST: DIST,
        LOG_LEVEL: 'warn',
        RULES_REFRESH_MS: '200',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout?.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));

  const baseUrl = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 60_000;
  while (!output.includes('Demo workspace')) {
    if (child.exitCode !== null) throw new Error(`server exited (${child.exitCode}):\n${output}`);
    if (Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`server did not start in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  const ready = await fetch(`${baseUrl}/readyz`).catch(() => null);
  if (!ready?.ok) throw new Error(`server not ready:\n${output}`);

  return {
    baseUrl,
    async stop() {
      if (child.exitCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
        await exited;
        clearTimeout(timer);
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export function launchBrowser(): Promise<Browser> {
  return chromium.launch({
    executablePath: CHROMIUM,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-background-networking',
      '--disable-dev-shm-usage',
    ],
  });
}

export const DESKTOP = { width: 1280, height: 800 };
export const PHONE = { width: 375, height: 812 };

export interface ContextOptions {
  viewport?: { width: number; height: number };
  /** Let the page run inline scripts the app's CSP refuses (axe-core injected as one). */
  bypassCSP?: boolean;
}

export interface SessionOptions extends ContextOptions {
  /** Done to the new context before its page opens (a longer timeout, init scripts). */
  prepare?: (ctx: BrowserContext) => Promise<void>;
}

export async function newContext(
  browser: Browser,
  baseURL: string,
  { viewport = DESKTOP, bypassCSP }: ContextOptions = {},
): Promise<BrowserContext> {
  const ctx = await browser.newContext({
    baseURL,
    viewport,
    reducedMotion: 'reduce',
    ...(bypassCSP ? { bypassCSP } : {}),
  });
  ctx.setDefaultTimeout(15_000);
  return ctx;
}

/** Save the page at desktop and phone width: `<name>.desktop.png` and `<name>.phone.png`. */
export async function screenshots(page: Page, name: string): Promise<void> {
  mkdirSync(SCREENSHOTS, { recursive: true });
  const original = page.viewportSize() ?? DESKTOP;
  await page.evaluate(() => window.scrollTo(0, 0));
  for (const [label, size] of [
    ['desktop', DESKTOP],
    ['phone', PHONE],
  ] as const) {
    await page.setViewportSize(size);
    await page.waitForTimeout(150);
    await page.screenshot({ path: join(SCREENSHOTS, `${name}.${label}.png`), fullPage: true });
  }
  await page.setViewportSize(original);
}

export async function signIn(page: Page, email: string, password: string): Promise<void> {
  await page.goto('/signin');
  await page.getByLabel('Email').fill(email);
  await page.getByLabel('Password').fill(password);
  await page.getByRole('button', { name: 'Sign in' }).click();
  await page.waitForURL((u) => !u.pathname.startsWith('/signin'));
}

export async function signUp(
  page: Page,
  who: { name: string; email: string; password: string },
): Promise<void> {
  await page.goto('/signup');
  await page.getByLabel('Your name').fill(who.name);
  await page.getByLabel('Email').fill(who.email);
  await page.getByLabel('Password').fill(who.password);
  await page.getByRole('button', { name: 'Create account' }).click();
  await page.waitForURL('**/billing');
}

export const DEMO = {
  owner: { email: 'owner@demo.test', password: 'demo-owner-password' },
  member: { email: 'member@demo.test', password: 'demo-member-password' },
  admin: { email: 'admin@demo.test', password: 'demo-admin-password' },
} as const;

export type Account = { readonly email: string; readonly password: string };

/** What a browser suite's tests work with: set by its `beforeAll`, so read it inside tests. */
export interface BrowserSuite {
  /** The server started for this file. */
  readonly app: RunningApp;
  readonly browser: Browser;
  /**
   * A new context with one page, signed in as `who` first (null: signed out), that the
   * caller closes. For a context kept across tests.
   */
  signedIn(
    who: Account | null,
    options?: ContextOptions,
  ): Promise<{ ctx: BrowserContext; page: Page }>;
  /**
   * `run` on a new page signed in as `who` (null: signed out); its context is closed after,
   * whether `run` passed or threw.
   */
  session<T>(
    who: Account | null,
    run: (page: Page, ctx: BrowserContext) => Promise<T>,
    options?: SessionOptions,
  ): Promise<T>;
  /** {@link BrowserSuite.session} as the demo workspace's owner. */
  ownerSession<T>(
    run: (page: Page, ctx: BrowserContext) => Promise<T>,
    options?: SessionOptions,
  ): Promise<T>;
}

/**
 * One file's browser tests: a `describe` named `browser: <title>` (skipped, saying why, where
 * there is no Chromium) whose `beforeAll` builds the web app if needed, starts the server and
 * launches Chromium, and whose `afterAll` closes them. `body` declares the tests with the
 * handle it is given; hooks it adds run after the harness's `beforeAll`, before its `afterAll`.
 */
export function browserSuite(title: string, body: (s: BrowserSuite) => void): void {
  const name = `browser: ${title}${SKIP ? ` (skipped: ${SKIP})` : ''}`;
  (SKIP ? describe.skip : describe)(name, () => {
    let app: RunningApp | undefined;
    let browser: Browser | undefined;
    const started = <T>(v: T | undefined, what: string): T => {
      if (v === undefined) throw new Error(`the browser suite's ${what} is not started yet`);
      return v;
    };
    beforeAll(async () => {
      await ensureBuilt();
      app = await startApp();
      browser = await launchBrowser();
    }, 300_000);
    afterAll(async () => {
      await browser?.close();
      await app?.stop();
    });
    const s: BrowserSuite = {
      get app() {
        return started(app, 'server');
      },
      get browser() {
        return started(browser, 'browser');
      },
      async signedIn(who, options) {
        const ctx = await newContext(s.browser, s.app.baseUrl, options);
        const page = await ctx.newPage();
        if (who) await signIn(page, who.email, who.password);
        return { ctx, page };
      },
      async session(who, run, options) {
        const ctx = await newContext(s.browser, s.app.baseUrl, options);
        try {
          await options?.prepare?.(ctx);
          const page = await ctx.newPage();
          if (who) await signIn(page, who.email, who.password);
          return await run(page, ctx);
        } finally {
          await ctx.close();
        }
      },
      ownerSession: (run, options) => s.session(DEMO.owner, run, options),
    };
    body(s);
  });
}
