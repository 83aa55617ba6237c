import { Worker } from 'node:worker_threads';
import { DEFAULT_WALLET_CATALOG, WALLET_KINDS, type WalletCatalogEntry } from '@credits/domain';
import type { AccountStore, BillingStore, Store } from '../types.js';
import type { AutoTopUpStore, SpendLimitsStore } from '../controls/types.js';
import type { DriverStats } from '../executor.js';
import {
  ACCOUNTS_METHODS,
  BILLING_METHODS,
  AUTO_TOP_UP_METHODS,
  SPEND_LIMITS_METHODS,
  STORE_METHODS,
  batcher,
  decodeError,
  type CallBatch,
  type CallMessage,
  type ReplyBatch,
  type CallTarget,
  type ReadyMessage,
  type ReplyMessage,
  type WorkerState,
} from './protocol.js';
import type { StoreWorkerData } from './store-worker.js';

type Pending = { resolve: (value: unknown) => void; reject: (error: Error) => void };

const CATALOG_MAX_AGE_MS = 5000;

/**
 * The SQLite store run on a worker thread of its own (see `store-worker.ts`): the same
 * {@link LedgerStore} over the same {@link SqliteDriver}, every call forwarded and answered
 * by message (those of one event-loop turn together). Arguments and answers are plain JSON
 * data (as the API's);
 * errors come back as the same {@link CreditsError} (reason, message, details) or as an
 * `Error` with the worker's message, name, code and stack. If the worker stops, every call
 * waiting and every later call fails; nothing is retried (the caller holds the idempotency key).
 *
 * Only SQLite runs here: it is where one connection and one queue serve every request, so the
 * thread that runs the queue sets the pace of every write.
 */
export class WorkerStore {
  readonly dialect = 'sqlite' as const;
  readonly accounts: AccountStore;
  readonly billing: BillingStore;
  readonly spendLimits: SpendLimitsStore;
  readonly autoTopUp: AutoTopUpStore;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private stopped: Error | null = null;
  private state: WorkerState = { writes: 0, commits: 0, queued: 0 };
  private catalog: { at: number; entries: WalletCatalogEntry[] } | null = null;
  private catalogLoading = false;

  private closing = false;

  private constructor(
    private readonly worker: Worker,
    private readonly onFailure?: (err: Error) => void,
  ) {
    this.accounts = this.forward('accounts', ACCOUNTS_METHODS) as unknown as AccountStore;
    this.billing = this.forward('billing', BILLING_METHODS) as unknown as BillingStore;
    this.spendLimits = this.forward(
      'spendLimits',
      SPEND_LIMITS_METHODS,
    ) as unknown as SpendLimitsStore;
    this.autoTopUp = this.forward('autoTopUp', AUTO_TOP_UP_METHODS) as unknown as AutoTopUpStore;
    const forwarded = this.forward('store', STORE_METHODS);
    for (const name of STORE_METHODS) {
      if (!(name in this))
        Object.defineProperty(this, name, { value: forwarded[name], enumerable: false });
    }
    worker.on('message', (text: string) => {
      const batch = JSON.parse(text) as ReplyBatch;
      this.note(batch.state);
      for (const reply of batch.replies) this.answer(reply);
    });
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) => this.fail(new Error(`store worker exited (code ${code})`)));
  }

  /** Start the worker, open the SQLite file there, and resolve once it is open. */
  static async open(
    data: StoreWorkerData,
    opts: { onFailure?: (err: Error) => void } = {},
  ): Promise<Store> {
    const entry = new URL(
      `./store-worker${import.meta.url.endsWith('.ts') ? '.ts' : '.js'}`,
      import.meta.url,
    ).href;
    const worker = new Worker(new URL('./boot.mjs', import.meta.url), {
      workerData: { ...data, entry },
    });
    let onMessage!: (msg: ReadyMessage) => void;
    let onError!: (err: Error) => void;
    let onExit!: (code: number) => void;
    const ready = await new Promise<ReadyMessage>((resolve, reject) => {
      onMessage = resolve;
      onError = reject;
      onExit = (code) =>
        reject(new Error(`store worker exited before it was ready (code ${code})`));
      worker.once('message', onMessage).once('error', onError).once('exit', onExit);
    }).finally(() => {
      // Only ours: the worker keeps listeners of its own on these events.
      worker.off('message', onMessage).off('error', onError).off('exit', onExit);
    });
    if (!ready.ready) {
      await worker.terminate();
      throw decodeError(ready.error);
    }
    const store = new WorkerStore(worker, opts.onFailure);
    store.note(ready.state);
    return store as unknown as Store;
  }

  stats(): DriverStats {
    const { writes, commits, queued, writerMs } = this.state;
    return { writes, commits, queued, ...(writerMs ? { writerMs } : {}) };
  }

  /** The wallet catalog as last loaded; reloaded in the background when older than 5 s. */
  catalogSnapshot(): WalletCatalogEntry[] {
    if (!this.catalog || Date.now() - this.catalog.at > CATALOG_MAX_AGE_MS) {
      if (!this.catalogLoading && !this.stopped) {
        this.catalogLoading = true;
        void this.call('store', 'catalogSnapshot', [])
          .catch(() => undefined)
          .finally(() => (this.catalogLoading = false));
      }
    }
    return this.catalog?.entries ?? WALLET_KINDS.map((k) => DEFAULT_WALLET_CATALOG[k]);
  }

  /** Close the store in the worker (its queue drains first), then end the thread. */
  async close(): Promise<void> {
    if (this.stopped) return;
    this.closing = true;
    await this.call('store', 'close', []);
    this.stop(new Error('store is closed'));
    await this.worker.terminate();
  }

  private forward(
    target: CallTarget,
    methods: readonly string[],
  ): Record<string, (...args: unknown[]) => Promise<unknown>> {
    const out: Record<string, (...args: unknown[]) => Promise<unknown>> = {};
    for (const method of methods)
      out[method] = (...args: unknown[]) => this.call(target, method, args);
    return out;
  }

  private call(target: CallTarget, method: string, args: unknown[]): Promise<unknown> {
    if (this.stopped) return Promise.reject(this.stopped);
    const id = this.nextId++;
    // JSON turns a positional undefined into null (and so past a default): drop trailing ones.
    let n = args.length;
    while (n > 0 && args[n - 1] === undefined) n--;
    const msg: CallMessage = { id, target, method, args: args.slice(0, n) };
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.send(msg);
    });
  }

  /** Calls made in one turn of the event loop go as one message (JSON text, cheaper than a structured clone). */
  private readonly send = batcher<CallMessage>((calls) => {
    let text: string;
    try {
      text = JSON.stringify(calls satisfies CallBatch);
    } catch {
      // An argument JSON cannot carry (a cycle, a BigInt): that call fails, nothing of it is sent.
      const sendable = calls.filter((c) => {
        try {
          JSON.stringify(c);
          return true;
        } catch (e) {
          this.pending.get(c.id)?.reject(e instanceof Error ? e : new Error(String(e)));
          this.pending.delete(c.id);
          return false;
        }
      });
      text = JSON.stringify(sendable);
    }
    if (this.stopped) return;
    this.worker.postMessage(text);
  });

  private answer(msg: ReplyMessage): void {
    const waiting = this.pending.get(msg.id);
    if (!waiting) return;
    this.pending.delete(msg.id);
    if (msg.ok) waiting.resolve(msg.value);
    else waiting.reject(decodeError(msg.error));
  }

  private note(state: WorkerState): void {
    this.state = state;
    if (state.catalog) this.catalog = { at: Date.now(), entries: state.catalog };
  }

  /** The worker died or exited: unexpected unless we are closing. */
  private fail(why: Error): void {
    const first = this.stopped === null;
    this.stop(why);
    if (first && !this.closing) this.onFailure?.(why);
  }

  private stop(why: Error): void {
    this.stopped ??= why;
    for (const waiting of this.pending.values()) waiting.reject(why);
    this.pending.clear();
  }
}
