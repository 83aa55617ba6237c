// The store worker's entry point. The package ships TypeScript sources: when the worker's
// module is a .ts file, register tsx's loader in this thread first (a worker does not inherit
// the loader hooks of the thread that started it), then load it.
import { workerData } from 'node:worker_threads';

if (workerData.entry.endsWith('.ts')) {
  const { register } = await import('tsx/esm/api');
  register();
}
await import(workerData.entry);
