import { Readable } from 'node:stream';
import { Hono } from 'hono';
import {
  CSV_MAX_ROWS,
  actorFilter,
  historyCsvStream,
  historyFilter,
  mayAccess,
} from '@credits/api';
import { CreditsError } from '@credits/domain';
import type { Store } from '@credits/store';
import type { Logger } from 'pino';
import type { AuthVariables } from './auth-middleware.js';
import type { CostBudget } from './cost-budget.js';

function problem(message: string, reason: string, status: 400 | 401 | 403 | 429) {
  return new Response(JSON.stringify({ error: { message, data: { reason } } }), {
    status,
    headers: {
      'content-type': 'application/json',
      ...(status === 429 ? { 'retry-after': '5' } : {}),
    },
  });
}

/**
 * `?workspaceId=…&wallet=…&types=spend,hold&from=…&to=…&member=…&apiKey=…` → the history
 * filter's input.
 */
function filterInput(url: URL): Record<string, unknown> {
  const q = url.searchParams;
  const num = (v: string | null) => (v === null || v === '' ? undefined : Number(v));
  const types = q
    .getAll('types')
    .flatMap((t) => t.split(','))
    .filter(Boolean);
  const input: Record<string, unknown> = {
    workspaceId: q.get('workspaceId') ?? undefined,
    wallet: q.get('wallet') || undefined,
    types: types.length ? types : undefined,
    from: num(q.get('from')),
    to: num(q.get('to')),
    member: q.get('member') || undefined,
    apiKey: q.get('apiKey') || undefined,
  };
  for (const k of Object.keys(input)) if (input[k] === undefined) delete input[k];
  return input;
}

/**
 * `GET /export/history.csv`: the ledger history as a streamed CSV download, with the same
 * callers, access and filters as `usage.history` (session cookie or bearer key, read access
 * to the workspace; filtering by API key needs the owners' right, as in `usage.history`). A plain HTTP route, so it is never part of a tRPC batch; at most
 * {@link CSV_MAX_ROWS} rows; at most one export per caller at a time within the process's
 * cost budget (429 otherwise). Formula-like cells are escaped.
 */
export function exportRoutes(deps: {
  store: Store;
  budget: CostBudget;
  logger: Logger;
  /** Rows per export; default {@link CSV_MAX_ROWS}. */
  maxRows?: number;
}) {
  const maxRows = deps.maxRows ?? CSV_MAX_ROWS;
  const app = new Hono<{ Variables: AuthVariables }>();
  app.get('/export/history.csv', async (c) => {
    const caller = c.get('caller');
    if (!caller) return problem('Sign in, or send a bearer API key.', 'UNAUTHORIZED', 401);
    const parsed = historyFilter.safeParse(filterInput(new URL(c.req.url)));
    if (!parsed.success)
      return problem(
        `Invalid input: ${parsed.error.issues.map((i) => `${i.path.join('.') || '(root)'}: ${i.message}`).join('; ')}`,
        'VALIDATION',
        400,
      );
    const filter = parsed.data;
    const { ok } = await mayAccess({ store: deps.store }, caller, filter.workspaceId, 'read');
    if (!ok) return problem('You do not have access to this workspace.', 'FORBIDDEN', 403);
    let actor: string | undefined;
    try {
      actor = await actorFilter({ store: deps.store }, caller, filter);
    } catch (e) {
      if (!(e instanceof CreditsError)) throw e;
      const forbidden = e.reason === 'FORBIDDEN';
      return problem(e.message, e.reason, forbidden ? 403 : 400);
    }
    const release = deps.budget.tryAcquire(caller.id);
    if (!release)
      return problem(
        'An export is already running for you. Try again when it has finished.',
        'RATE_LIMITED',
        429,
      );
    const csv = historyCsvStream({ store: deps.store, filter, actor, maxRows });
    csv.once('close', release);
    csv.once('error', (err) =>
      deps.logger.error({ err, workspaceId: filter.workspaceId }, 'history export failed'),
    );
    return new Response(Readable.toWeb(csv) as ReadableStream, {
      headers: {
        'content-type': 'text/csv; charset=utf-8',
        'content-disposition': `attachment; filename="credits-history-${filter.workspaceId}.csv"`,
        'cache-control': 'no-store',
        'x-credits-row-cap': String(maxRows),
      },
    });
  });
  return app;
}
