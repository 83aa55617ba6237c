import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DEFAULT_WALLET_CATALOG, LOT_SOURCES, REASONS, WALLET_KINDS } from '@credits/domain';

const product = readFileSync(resolve(import.meta.dirname, '../../../docs/PRODUCT.md'), 'utf8');

describe('docs/PRODUCT.md stays true to the code', () => {
  it('names every error reason', () => {
    expect(Object.values(REASONS).filter((r) => !product.includes(`\`${r}\``))).toEqual([]);
  });

  it('names every wallet with its label and what it is used for, and every lot source', () => {
    for (const kind of WALLET_KINDS) {
      const entry = DEFAULT_WALLET_CATALOG[kind];
      expect(product).toContain(`\`${kind}\``);
      expect(product).toContain(entry.label);
      expect(product).toContain(entry.usedFor);
    }
    expect(LOT_SOURCES.filter((s) => !product.includes(`\`${s}\``))).toEqual([]);
  });
});
