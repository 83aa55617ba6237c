import type { Driver } from '../executor.js';

/** What each part of the account store works with. */
export abstract class AccountPart {
  constructor(protected readonly driver: Driver) {}
}
