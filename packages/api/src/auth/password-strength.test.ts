import { describe, expect, it } from 'vitest';
import { CreditsError } from '@credits/domain';
import { assertStrongPassword } from './password-strength.js';

/** Issue 12, finding 5: `aaaaaaaaaa` and `1234567890` were accepted as passwords. */
describe('new passwords must be hard to guess (zxcvbn-ts, score ≥ 3)', () => {
  const refused = async (password: string, userInputs?: string[]) => {
    const e = await assertStrongPassword({ password, userInputs }).then(
      () => null,
      (err: unknown) => err,
    );
    return e instanceof CreditsError && e.reason === 'VALIDATION' && e.details.field === 'password';
  };

  it('refuses repeats, sequences, common and breached-list passwords and their variants', async () => {
    for (const p of [
      'aaaaaaaaaa',
      '1234567890',
      'password123!',
      'P@ssw0rd2024',
      'qwertyuiop1',
      'iloveyou1234',
      'letmein12345',
      '1111111111',
      'abcdefghij',
    ]) {
      expect({ p, refused: await refused(p) }).toEqual({ p, refused: true });
    }
  });

  it('accepts long passphrases and random passwords', async () => {
    for (const p of ['correct horse battery staple', 'kX9#mQ2vLp!r', 'velvet-otter-canyon-42']) {
      expect({ p, refused: await refused(p) }).toEqual({ p, refused: false });
    }
  });
});
