/**
 * The store worker: a thread that owns the SQLite connections, the write queue and the ledger
 * code, so the statements' callbacks (several per operation, each a trip through libuv's
 * threadpool) never wait behind HTTP work on the server's main thread. It answers the calls
 * {@link WorkerStore} forwards, one message each way per call. Started by `boot.mjs`.
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
const CATALOG_CALLS = new Set(['store.migrate', 'store.refreshCatalog', 'store.catalogSnapshot', 'billing.updateCatalog', 'billing.seed']);

async function main(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error('store-worker.ts runs as a worker thread');
  const data = workerData as StoreWorkerData & { entry: string };
  let store: LedgerStore;
  try {
    store = new LedgerStore(await SqliteDriver.open({ filename: data.filename, maxBatch: data.maxBatch }));
  } catch (e) {
    port.postMessage({ ready: false, error: encodeError(e) } satisfies ReadyMessage);
    return;
  }
  // The writer's time split goes along at most every 100 ms (the rest every time).
  let timedAt = 0;
  const state = (withCatalog: boolean): WorkerState => {
    const { writerMs, ...counts } = store.stats();
    const now = Date.now();
    const withTimes = writerMs !== undefined && now - timedAt >= 100;
    if (withTimes) timedAt = now;
    return { ...counts, ...(withTimes ? { writerMs } : {}), ...(withCatalog ? { catalog: store.catalogSnapshot() } : {}) };
  };
  const targets: Record<CallTarget, object> = { store, accounts: store.accounts, billing: store.billing };

  let closing = false;
  /** Every call gets an answer, even one JSON cannot carry. */
  const send = batcher<ReplyMessage>((replies) => {
    let text: string;
    try {
      text = JSON.stringify(replies satisfies ReplyBatch);
    } catch {
      text = JSON.stringify(
        replies.map((r): ReplyMessage => {
          try {
            JSON.stringify(r);
            return r;
          } catch (e) {
            return { id: r.id, ok: false, error: encodeError(e), state: r.state };
          }
        }),
      );
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
      const target = targets[msg.target] as Record<string, (...args: unknown[]) => Promise<unknown>>;
      result = Promise.resolve().then(() => target[msg.method]!(...msg.args));
    }
    result.then(
      (value) => {
        if (qualified === 'store.close') closing = true;
        send({ id: msg.id, ok: true, value, state: state(CATALOG_CALLS.has(qualified)) });
      },
      (error: unknown) => {
        send({ id: msg.id, ok: false, error: encodeError(error), state: state(false) });
      },
    );
  };
  port.on('message', (text: string) => {
    for (const msg of JSON.parse(text) as CallBatch) run(msg);
  });
  port.postMessage({ ready: true, state: state(true) } satisfies ReadyMessage);
}

void main();
