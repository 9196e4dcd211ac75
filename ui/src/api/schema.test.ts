import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { generate } from '../../scripts/gen-api.mjs';

describe('schema.gen.ts', () => {
  it('is generated from the committed OpenAPI document (run node scripts/gen-api.mjs after changing it)', () => {
    const doc = JSON.parse(readFileSync(new URL('./openapi.json', import.meta.url), 'utf8'));
    const current = readFileSync(new URL('./schema.gen.ts', import.meta.url), 'utf8');
    expect(current).toBe(generate(doc));
  });
});
