/** The public methods of an object, bound to it. */
export type Methods<T> = {
  [K in keyof T as T[K] extends (...args: never[]) => unknown ? K : never]: T[K];
};

/**
 * An object's own class's methods, bound to it: stores made of parts (billing, accounts)
 * spread their parts' methods into one object.
 */
export function methods<T extends object>(o: T): Methods<T> {
  const out: Record<string, unknown> = {};
  for (const name of Object.getOwnPropertyNames(Object.getPrototypeOf(o))) {
    const f = (o as Record<string, unknown>)[name];
    if (name !== 'constructor' && typeof f === 'function') out[name] = f.bind(o);
  }
  return out as Methods<T>;
}
