import { CreditsError } from '@credits/domain';
import type { Store } from '@credits/store';
import { newSessionToken, sha256 } from './tokens.js';

/** A reset link works this long, once. */
export const PASSWORD_RESET_TTL_MS = 30 * 60 * 1000;

/**
 * Issue a password reset token for the account with this email: 256 random bits, stored only
 * as its SHA-256 (like sessions), valid for {@link PASSWORD_RESET_TTL_MS}, usable once
 * (`redeemPasswordReset` claims it with a conditional UPDATE), and any earlier unused token
 * of the account stops working. Without mail configured, `credits auth reset-link` prints
 * the link for an operator to hand over.
 *
 * @example
 * const { token } = await issuePasswordReset({ store, email: 'a@b.example', now: Date.now() });
 * console.log(`${publicUrl}/reset?token=${token}`);
 */
export async function issuePasswordReset(input: {
  store: Store;
  email: string;
  now: number;
}): Promise<{ token: string; expiresAt: number; userId: string }> {
  const user = await input.store.accounts.userByEmail(input.email);
  if (!user) throw new CreditsError('NOT_FOUND', 'No account has this email.', {});
  const token = newSessionToken();
  const expiresAt = input.now + PASSWORD_RESET_TTL_MS;
  await input.store.accounts.createPasswordReset({
    tokenHash: sha256(`reset:${token}`),
    userId: user.id,
    now: input.now,
    expiresAt,
  });
  return { token, expiresAt, userId: user.id };
}

/** How a reset token is stored (its own namespace: a session token never matches it). */
export const resetTokenHash = (token: string) => sha256(`reset:${token}`);
