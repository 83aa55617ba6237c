import { Readable } from 'node:stream';
import { stringify } from 'csv-stringify';
import type { LedgerEntry, Store } from '@credits/store';
import type { z } from 'zod';
import { historyFilter } from './routers/usage.js';

/** At most this many rows in one export (newest first); the rest needs narrower filters. */
export const CSV_MAX_ROWS = 10_000;
/** Entries read from the store per page while streaming. */
const PAGE_ROWS = 200;

export const HISTORY_CSV_COLUMNS = [
  'time',
  'wallet',
  'type',
  'amount',
  'balance_after',
  'held_after',
  'job',
  'order',
  'rule_version',
  'actor',
  'description',
  'lots',
] as const;

export type HistoryFilter = z.infer<typeof historyFilter>;
export { historyFilter };

function record(e: LedgerEntry): (string | number)[] {
  return [
    new Date(e.createdAt).toISOString(),
    e.wallet,
    e.type,
    e.amount,
    e.balanceAfter,
    e.heldAfter,
    e.jobId ?? '',
    e.orderId ?? '',
    e.ruleVersion ?? '',
    e.actor,
    e.description,
    e.lots.map((l) => `${l.lotId}:${l.amount}`).join(' '),
  ];
}

/**
 * The ledger history under `filter` (the same filters as `usage.history`), as a stream of CSV
 * text: a header, then one row per entry, newest first, at most `maxRows`. Entries are read
 * a page of 200 at a time, only as fast as the reader takes them (backpressure), so an export
 * never holds more than a page in memory or the event loop for more than a page's work.
 * Cells that a spreadsheet would run as a formula (starting with `=`, `+`, `-`, `@`, tab or
 * carriage return) are prefixed with `'` (csv-stringify's `escape_formulas`).
 *
 * @example
 * const csv = historyCsvStream({ store, filter: { workspaceId: 'demo' } });
 * csv.pipe(res);
 */
export function historyCsvStream(input: {
  store: Store;
  filter: HistoryFilter;
  /** The actor `filter.member` or `filter.apiKey` names, checked by the caller (`actorFilter`). */
  actor?: string;
  maxRows?: number;
}): Readable {
  const maxRows = input.maxRows ?? CSV_MAX_ROWS;
  const { member: _m, apiKey: _k, ...filter } = input.filter;
  if ((_m !== undefined || _k !== undefined) && input.actor === undefined)
    throw new Error('historyCsvStream: resolve filter.member / filter.apiKey with actorFilter');
  async function* rows(): AsyncGenerator<(string | number)[]> {
    let cursor: string | undefined;
    let sent = 0;
    do {
      const page = await input.store.history({
        ...filter,
        actor: input.actor,
        cursor,
        limit: Math.min(PAGE_ROWS, maxRows - sent),
      });
      for (const e of page.items) {
        yield record(e);
        sent += 1;
      }
      cursor = page.nextCursor ?? undefined;
    } while (cursor && sent < maxRows);
  }
  const out = stringify({
    header: true,
    columns: [...HISTORY_CSV_COLUMNS],
    escape_formulas: true,
  });
  const source = Readable.from(rows());
  source.once('error', (err) => out.destroy(err));
  out.once('close', () => source.destroy());
  return source.pipe(out);
}
