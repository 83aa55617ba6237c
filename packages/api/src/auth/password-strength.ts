import { ZxcvbnFactory, type ZxcvbnResult } from '@zxcvbn-ts/core';
import * as common from '@zxcvbn-ts/language-common';
import * as en from '@zxcvbn-ts/language-en';
import { CreditsError } from '@credits/domain';

/**
 * zxcvbn's score (0–4) a new password must reach: 3 is "safely unguessable" (about 10^10
 * guesses), which rules out common and breached-list passwords, their l33t and
 * capitalised forms, keyboard walks, repeats, sequences and dates.
 */
export const MIN_PASSWORD_SCORE = 3;

let checker: ZxcvbnFactory | null = null;
function zxcvbn(): ZxcvbnFactory {
  // The dictionaries (common passwords, names, English words) load once, on first use.
  checker ??= new ZxcvbnFactory({
    dictionary: { ...common.dictionary, ...en.dictionary },
    graphs: common.adjacencyGraphs,
    translations: en.translations,
  });
  return checker;
}

/**
 * Refuse a weak new password with VALIDATION `{ field: 'password' }` and zxcvbn's advice.
 * Words from the person's own email and name count as known (a password made of them is
 * weak).
 *
 * @example
 * await assertStrongPassword({ password: 'aaaaaaaaaa' }) // throws VALIDATION
 */
export async function assertStrongPassword(input: {
  password: string;
  userInputs?: string[];
}): Promise<void> {
  const inputs = (input.userInputs ?? []).flatMap((s) => {
    const lower = s.toLowerCase();
    return [lower, lower.split('@')[0] ?? '', ...lower.split(/[^a-z0-9]+/)];
  });
  const result: ZxcvbnResult = zxcvbn().check(
    input.password,
    inputs.filter((s) => s.length >= 3),
  );
  if (result.score >= MIN_PASSWORD_SCORE) return;
  const advice = [result.feedback.warning, ...result.feedback.suggestions].filter(Boolean);
  throw new CreditsError(
    'VALIDATION',
    `This password is too easy to guess.${advice.length ? ` ${advice.join(' ')}` : ''}`,
    { field: 'password' },
  );
}
