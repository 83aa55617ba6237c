import type { AccountStore } from './account-types.js';
import { AuditLogStore } from './audit-log.js';
import type { Driver } from './executor.js';
import { methods } from './methods.js';
import { ApiKeyStore } from './accounts/api-keys.js';
import { InvitationStore } from './accounts/invitations.js';
import { SessionStore } from './accounts/sessions.js';
import { UserStore } from './accounts/users.js';

/**
 * The account store, one part per responsibility: users and memberships
 * (`accounts/users.ts`); sessions, passwords and rate limits (`accounts/sessions.ts`); API
 * keys (`accounts/api-keys.ts`); invitations (`accounts/invitations.ts`); the audit log
 * (`audit-log.ts`). Secrets arrive hashed.
 *
 * @example
 * const accounts = accountStore(driver);
 * const user = await accounts.sessionUser({ tokenHash, now });
 */
export function accountStore(driver: Driver): AccountStore {
  return {
    ...methods(new UserStore(driver)),
    ...methods(new SessionStore(driver)),
    ...methods(new ApiKeyStore(driver)),
    ...methods(new InvitationStore(driver)),
    ...methods(new AuditLogStore(driver)),
  };
}
