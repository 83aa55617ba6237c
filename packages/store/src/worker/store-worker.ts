/**
 * The store worker: a thread that owns the SQLite connections, the write queue and the ledger
 * code, so the statements' callbacks (several per operation, each a trip through libuv's
 * threadpool) never wait behind HTTP work on the server's main thread. It answers the calls
 * {@link WorkerStore} forwards; the answers of one event-loop turn go back as one message.
 * Started by `boot.mjs`.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { LedgerStore } from '../ledger-store.js';
import { SqliteDriver } from '../sqlite/sqlite-driver.js';
import {
  METHODS,
  batcher,
  encodeError,
  type CallBatch,
  type ReplyBatch,
  type CallMessage,
  type CallTarget,
  type ReadyMessage,
  type ReplyMessage,
  type WorkerState,
} from './protocol.js';

export interface StoreWorkerData {
  filename: string;
  maxBatch?: number;
}

/** Calls whose answer carries the wallet catalog (they load or change it). */
const CATALOG_CALLS = new Set([
  'store.migrate',
  'store.refreshCatalog',
  'store.catalogSnapshot',
  'billing.updateCatalog',
  'billing.seed',
]);

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('store-worker.ts runs as a worker thread');
  const data = workerData as StoreWorkerData & { entry: string };
  let store: LedgerStore;
  try {
    store = new LedgerStore(
      await SqliteDriver.open({ filename: data.filename, maxBatch: data.maxBatch }),
    );
  } catch (e) {
    port.postMessage({ ready: false, error: encodeError(e) } satisfies ReadyMessage);
    return;
  }
  const state = (withCatalog: boolean): WorkerState => ({
    ...store.stats(),
    ...(withCatalog ? { catalog: store.catalogSnapshot() } : {}),
  });
  const targets: Record<CallTarget, object> = {
    store,
    accounts: store.accounts,
    billing: store.billing,
    spendLimits: store.spendLimits,
    autoTopUp: store.autoTopUp,
  };

  let closing = false;
  /** Some answer in the batch being gathered loaded or changed the catalog. */
  let catalogChanged = false;
  /** Every call gets an answer, even one JSON cannot carry. */
  const send = batcher<ReplyMessage>((replies) => {
    const batch: ReplyBatch = { replies, state: state(catalogChanged) };
    catalogChanged = false;
    let text: string;
    try {
      text = JSON.stringify(batch);
    } catch {
      batch.replies = replies.map((r): ReplyMessage => {
        try {
          JSON.stringify(r);
          return r;
        } catch (e) {
          return { id: r.id, ok: false, error: encodeError(e) };
        }
      });
      text = JSON.stringify(batch);
    }
    port.postMessage(text);
    if (closing) port.close();
  });
  const run = (msg: CallMessage) => {
    const qualified = `${msg.target}.${msg.method}`;
    let result: Promise<unknown>;
    if (msg.target === 'store' && msg.method === 'catalogSnapshot') {
      result = Promise.resolve(null);
    } else if (!METHODS[msg.target]?.has(msg.method)) {
      result = Promise.reject(new Error(`store worker: no such call ${qualified}`));
    } else {
      const target = targets[msg.target] as Record<
        string,
        (...args: unknown[]) => Promise<unknown>
      >;
      result = Promise.resolve().then(() => target[msg.method]!(...msg.args));
    }
    result.then(
      (value) => {
        if (qualified === 'store.close') closing = true;
        if (CATALOG_CALLS.has(qualified)) catalogChanged = true;
        send({ id: msg.id, ok: true, value });
      },
      (error: unknown) => {
        send({ id: msg.id, ok: false, error: encodeError(error) });
      },
    );
  };
  port.on('message', (text: string) => {
    for (const msg of JSON.parse(text) as CallBatch) run(msg);
  });
  port.postMessage({ ready: true, state: state(true) } satisfies ReadyMessage);
}

void main();
