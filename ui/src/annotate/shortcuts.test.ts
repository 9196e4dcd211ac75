import { describe, expect, test } from 'vitest';
import { actionForKey, loadBindings, saveBinding } from './shortcuts.ts';

function memory() {
  const m = new Map<string, string>();
  return { getItem: (k: string) => m.get(k) ?? null, setItem: (k: string, v: string) => void m.set(k, v) };
}

describe('configurable keys', () => {
  test('defaults', () => {
    const b = loadBindings(memory());
    expect(actionForKey(b, 'l')).toBe('tool:Length');
    expect(actionForKey(b, 'B')).toBe('tool:SphereBrush');
    expect(actionForKey(b, 'u')).toBe('undo');
    expect(actionForKey(b, 'O')).toBe('tool:Box3D');
    expect(actionForKey(b, 'R')).toBe('tool:RegionGrow');
    expect(actionForKey(b, 'I')).toBe('interpolate');
    // Every default key is taken once.
    expect(new Set(b.map((x) => x.key)).size).toBe(b.length);
    expect(actionForKey(b, '')).toBeUndefined();
  });
  test('a new key is stored and takes the key from its old owner', () => {
    const s = memory();
    saveBinding('tool:Landmark', 'l', s);
    const b = loadBindings(s);
    expect(actionForKey(b, 'l')).toBe('tool:Landmark');
    expect(b.find((x) => x.action === 'tool:Length')!.key).toBe('');
    expect(actionForKey(b, 'k')).toBeUndefined();
  });
  test('bad stored data falls back to the defaults', () => {
    const s = memory();
    s.setItem('radmark.keys', '{not json');
    expect(actionForKey(loadBindings(s), 'l')).toBe('tool:Length');
  });
});
