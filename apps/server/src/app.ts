import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { Hono, type Context, type MiddlewareHandler } from 'hono';
import { getConnInfo } from '@hono/node-server/conninfo';
import { bodyLimit } from 'hono/body-limit';
import { requestId } from 'hono/request-id';
import { routePath } from 'hono/route';
import { secureHeaders } from 'hono/secure-headers';
import { fetchRequestHandler } from '@trpc/server/adapters/fetch';
import type { Logger } from 'pino';
import { isIP } from 'node:net';
import {
  appRouter,
  storeRateLimiter,
  workspaceServices,
  type CycleService,
  type RulesService,
  type WorkspaceCache,
} from '@credits/api';
import {
  authMiddleware,
  clearedSessionCookie,
  sessionCookie,
  writeGuard,
  type AuthVariables,
} from './auth-middleware.js';
import type { Store } from '@credits/store';
import { staticAssets } from './static-assets.js';
import { metricsGuard, trpcRouteLabel, UNKNOWN_ROUTE, type Metrics } from './metrics.js';
import {
  autoTopUpRunner,
  autoTopUpTrigger,
  paymentGateway,
  paymentRoutes,
  type PaymentsDeps,
} from './payments/index.js';
import { CostBudget, expensiveProcedureGuard } from './cost-budget.js';
import { exportRoutes } from './export-routes.js';
import { receiptRoutes } from './receipt-routes.js';
import { httpApiRoutes } from './http-api/routes.js';
import { writeProbe, type WriteProbeOptions } from './readiness.js';

/**
 * The client's address for per-client limits. Without a proxy (`trustProxyHops` 0) it is the
 * socket's peer. Behind `trustProxyHops` proxies, each of which appends the address it
 * received the request from to X-Forwarded-For, the client is the entry that many hops from
 * the right: entries further left were written by the client and prove nothing. A header
 * with fewer entries, or an entry that is not an IP address, falls back to the socket's peer.
 *
 * @example
 * // TRUST_PROXY=1, "X-Forwarded-For: 6.6.6.6, 203.0.113.9" → 203.0.113.9
 */
export function clientAddress(input: {
  forwardedFor: string | undefined;
  hops: number;
  socket: () => string | undefined;
}): string {
  if (input.hops > 0 && input.forwardedFor) {
    const entries = input.forwardedFor.split(',').map((e) => e.trim());
    const entry = entries.length >= input.hops ? entries[entries.length - input.hops] : undefined;
    if (entry && isIP(entry) !== 0) return entry;
  }
  return input.socket() ?? 'unknown';
}

function clientIp(c: Context, trustProxyHops: number): string {
  return clientAddress({
    // Several X-Forwarded-For headers read as one list, in order.
    forwardedFor: c.req.raw.headers.get('x-forwarded-for') ?? undefined,
    hops: trustProxyHops,
    socket: () => {
      try {
        return getConnInfo(c).remote.address;
      } catch {
        return undefined; // app.request() in tests has no socket
      }
    },
  });
}

const DEFAULT_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "form-action 'self'",
  "frame-ancestors 'none'",
  "base-uri 'self'",
  "object-src 'none'",
].join('; ');

export interface AppDeps {
  /**
   * How many reverse proxies stand in front, each appending to X-Forwarded-For (0: none, the
   * socket's peer is the client). See {@link clientAddress}.
   */
  trustProxy?: number;
  store: Store;
  rules: RulesService;
  /**
   * The cycle keeper and workspace cache every request shares (the server shares them with
   * its sweeper); built here when absent.
   */
  services?: { cycles: CycleService; workspaces: WorkspaceCache };
  logger: Logger;
  metrics: Metrics;
  clock: () => number;
  /**
   * `/metrics` on this port needs `Authorization: Bearer <metricsToken>`; without a token it
   * is not served here (404). A separate port can serve it instead (`metricsApp`).
   */
  metricsToken?: string;
  /**
   * Development over plain http on a host other than localhost/127.0.0.1: the session cookie
   * without `__Host-` and `Secure` (`INSECURE_DEV_COOKIES`; refused in production).
   */
  insecureDevCookies?: boolean;
  /** Optional bootstrap service key (all scopes) from the environment. */
  serviceKey?: string;
  holdTtlMs: number;
  webDist?: string;
  /** False while shutting down: /readyz answers 503. */
  isReady?: () => boolean;
  /** `/readyz`'s write probe: its bound and how long an answer is reused (see readiness.ts). */
  readiness?: WriteProbeOptions;
  /**
   * Expensive reads running at once: CSV exports (default 1 per caller, 4 in all) and
   * `usage.summary` / `admin.rules.simulate` (default 2 per caller, 8 in all).
   */
  costBudget?: { exports: CostBudget; reads: CostBudget };
  /** Rows in one CSV export (default 10,000). */
  exportMaxRows?: number;
  /** The payment provider and public URL: checkout, `/webhooks/:provider`, the sandbox's page. */
  payments?: PaymentsDeps;
}

const MAX_BODY_BYTES = 256 * 1024;
const streamedBodyLimit = bodyLimit({
  maxSize: MAX_BODY_BYTES,
  onError: (c) => c.json({ error: 'Request body too large' }, 413),
});

/**
 * At most 256 KB of request body. A body with a Content-Length (and no Transfer-Encoding) is
 * judged by its header, which Node's parser holds the body to, without touching the body:
 * reading `c.req.raw.body`, as hono's `bodyLimit` does first, turns the request into a full
 * web `Request` with a stream, the dearest step of a small POST. GET and HEAD have no body;
 * anything else (chunked) goes through hono's `bodyLimit`, which counts the bytes as they come.
 */
const trpcBodyLimit: MiddlewareHandler = async (c, next) => {
  if (c.req.method === 'GET' || c.req.method === 'HEAD') return next();
  const length = c.req.header('content-length');
  if (
    length !== undefined &&
    c.req.header('transfer-encoding') === undefined &&
    /^\d+$/.test(length)
  ) {
    if (Number(length) > MAX_BODY_BYTES) return c.json({ error: 'Request body too large' }, 413);
    return next();
  }
  return streamedBodyLimit(c, next);
};

/**
 * The HTTP surface: `/trpc` (access checked per procedure: sessions, API keys; see docs/api.md),
 * the HTTP/JSON API `/api/v1` with `/openapi.json` and `/api/docs` (`http-api/`),
 * `/healthz`, `/readyz`, `/metrics`, the payment routes (`/webhooks/:provider`, the sandbox's
 * `/checkout/sandbox/:session`) when `payments` is given, and the built web app when there is one.
 *
 * @example
 * const app = createApp(deps);
 * const res = await app.request('/healthz');
 */
export function createApp(deps: AppDeps) {
  const app = new Hono<{ Variables: AuthVariables }>();
  // Sign-in, sign-up and reset limits, counted in the store: shared by every process.
  const limiter = storeRateLimiter(deps.store, deps.clock);
  const payments = deps.payments
    ? paymentGateway(deps.payments.provider, deps.payments.publicUrl, async (workspaceId) => {
        const saved = await deps.store.autoTopUp.paymentMethod({
          workspaceId,
          provider: deps.payments!.provider.name,
        });
        return saved?.customerRef ?? null;
      })
    : undefined;

  // Auto top-up: a spend that takes a wallet below its threshold starts one purchase.
  const topUp =
    deps.payments?.autoTopUp ??
    (deps.payments?.provider.offSession
      ? autoTopUpTrigger({
          store: deps.store,
          logger: deps.logger,
          runner: autoTopUpRunner({
            store: deps.store,
            provider: deps.payments.provider,
            publicUrl: deps.payments.publicUrl,
            deliver: deps.payments.deliver,
            clock: deps.clock,
            logger: deps.logger,
          }),
        })
      : undefined);

  // Route patterns the app registered (known once every route is added): the only values,
  // with procedure names, a request's `route` label may take.
  let routePatterns: ReadonlySet<string> | null = null;
  const routeLabel = (c: Context): string => {
    if (c.req.path.startsWith('/trpc/')) return trpcRouteLabel(c.req.path);
    routePatterns ??= new Set(app.routes.map((r) => r.path));
    const pattern = routePath(c); // the pattern of the handler that answered
    return routePatterns.has(pattern) ? pattern : UNKNOWN_ROUTE;
  };

  app.use('*', requestId());
  app.use('*', async (c, next) => {
    const started = performance.now();
    await next();
    const seconds = (performance.now() - started) / 1000;
    deps.metrics.request(routeLabel(c), c.res.status, seconds);
    deps.logger.debug(
      {
        reqId: c.get('requestId'),
        method: c.req.method,
        path: c.req.path,
        status: c.res.status,
        ms: Math.round(seconds * 1000),
      },
      'request',
    );
  });
  app.use('*', secureHeaders());
  // The built web app loads only its own scripts and styles; nothing inline runs. Pages that
  // set a stricter policy of their own (the sandbox checkout page) keep theirs.
  app.use('*', async (c, next) => {
    await next();
    if (!c.res.headers.has('content-security-policy'))
      c.res.headers.set('content-security-policy', DEFAULT_CSP);
  });

  // Liveness: answers at once, never touches the store.
  app.get('/healthz', (c) => c.json({ ok: true }));
  // Readiness: the store takes writes (a bounded one-row write, cached a second).
  const storeTakesWrites = writeProbe(deps.store, deps.readiness);
  app.get('/readyz', async (c) => {
    if (deps.isReady && !deps.isReady())
      return c.json({ ready: false, reason: 'shutting down', code: 'SHUTTING_DOWN' }, 503);
    const readiness = await storeTakesWrites();
    return c.json(readiness, readiness.ready ? 200 : 503);
  });
  app.use('/metrics', metricsGuard(deps.metricsToken));
  app.get('/metrics', async (c) => {
    c.header('Content-Type', deps.metrics.registry.contentType);
    return c.body(await deps.metrics.registry.metrics());
  });

  const auth = authMiddleware({
    store: deps.store,
    clock: deps.clock,
    envServiceKey: deps.serviceKey,
    insecureDevCookies: deps.insecureDevCookies,
  });
  const budget = deps.costBudget ?? {
    exports: new CostBudget({ perCaller: 1, total: 4 }),
    reads: new CostBudget({ perCaller: 2, total: 8 }),
  };
  app.use('/trpc/*', trpcBodyLimit);
  app.use('/trpc/*', writeGuard(deps.insecureDevCookies));
  app.use('/trpc/*', auth);
  app.use('/trpc/*', expensiveProcedureGuard(budget.reads));
  // The CSV export: a streamed download outside tRPC (never batched), same callers and access.
  app.use('/export/*', auth);
  app.route(
    '/',
    exportRoutes({
      store: deps.store,
      budget: budget.exports,
      logger: deps.logger,
      maxRows: deps.exportMaxRows,
    }),
  );
  // Receipts as PDF downloads: same callers and access as receipts.get.
  app.use('/receipts/*', auth);
  app.route('/', receiptRoutes({ store: deps.store }));
  const services = deps.services ?? workspaceServices({ store: deps.store, clock: deps.clock });
  /** One request's procedure context: `/trpc` and the HTTP API (`/api/v1`) build it alike. */
  const procedureContext = (c: Context<{ Variables: AuthVariables }>, resHeaders: Headers) => {
    return {
      store: deps.store,
      rules: deps.rules,
      cycles: services.cycles,
      workspaces: services.workspaces,
      now: deps.clock,
      caller: c.get('caller'),
      // Set per workspace procedure; null up front, so one acting for an API key (no role)
      // keeps this context instead of copying it (see workspaceProcedure).
      role: null,
      config: { holdTtlMs: deps.holdTtlMs },
      observe: (e: { op: string; ok: boolean; reason?: string; ms: number }) =>
        deps.metrics.operation(e),
      http: {
        // Read only when a procedure asks (sign-in): finding the socket address is not free.
        get clientIp() {
          return clientIp(c, deps.trustProxy ?? 0);
        },
        get userAgent() {
          return c.req.header('user-agent');
        },
        // Secure and __Host- always (browsers accept them on http://localhost and
        // http://127.0.0.1 too), unless INSECURE_DEV_COOKIES says otherwise.
        setSession: (token: string, expiresAt: number) =>
          resHeaders.append(
            'Set-Cookie',
            sessionCookie(token, expiresAt, deps.clock(), deps.insecureDevCookies),
          ),
        clearSession: () =>
          resHeaders.append('Set-Cookie', clearedSessionCookie(deps.insecureDevCookies)),
      },
      limiter,
      payments,
      afterSpend: topUp?.afterSpend,
    };
  };
  app.all('/trpc/*', (c) =>
    fetchRequestHandler({
      endpoint: '/trpc',
      req: c.req.raw,
      router: appRouter,
      maxBatchSize: 50,
      // Long queries (rule documents) may come as POST; POSTs pass the JSON-only and CSRF guard.
      allowMethodOverride: true,
      createContext: ({ resHeaders }) => procedureContext(c, resHeaders),
      onError: ({ error, path }) => {
        if (error.code === 'INTERNAL_SERVER_ERROR') {
          deps.logger.error(
            { reqId: c.get('requestId'), path, err: error.cause ?? error },
            'procedure failed',
          );
        }
      },
    }),
  );

  // The same procedures for services in any language: JSON over HTTP, described by
  // /openapi.json (reference page at /api/docs); same body limit, write guard and callers.
  app.use('/api/v1/*', trpcBodyLimit);
  app.use('/api/v1/*', writeGuard(deps.insecureDevCookies));
  app.use('/api/v1/*', auth);
  app.route(
    '/',
    httpApiRoutes({
      createContext: (c) => procedureContext(c, new Headers()),
      logger: deps.logger,
    }),
  );

  // Outside /trpc: webhooks are signed raw bodies, and the sandbox page posts a form.
  if (deps.payments) {
    app.route(
      '/',
      paymentRoutes({
        payments: deps.payments,
        store: deps.store,
        logger: deps.logger,
        metrics: deps.metrics,
        clock: deps.clock,
        cycles: services.cycles,
        workspaces: services.workspaces,
      }),
    );
  }

  if (deps.webDist && existsSync(join(deps.webDist, 'index.html'))) {
    // Compressed once at start, hashed files immutable, index.html revalidated (static-assets.ts).
    const web = staticAssets(deps.webDist);
    app.use('/*', web.files);
    app.get('*', web.index);
  }
  return app;
}
