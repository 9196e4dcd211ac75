// Configurable keys of the annotation tools and editing commands, kept in
// localStorage; the viewer's own keys (presets, navigation) are in
// viewer/presets.ts and can be remapped here too.
import { TOOL_DEFS, type ToolId } from './tools.ts';

export type EditAction = `tool:${ToolId}` | 'undo' | 'redo' | 'save' | 'brushBigger' | 'brushSmaller' | 'interpolate';

export interface KeyBinding {
  action: EditAction;
  key: string;
  description: string;
}

export const DEFAULT_BINDINGS: readonly KeyBinding[] = [
  ...TOOL_DEFS.map((t) => ({ action: `tool:${t.id}` as EditAction, key: t.key, description: `Tool: ${t.label}` })),
  { action: 'undo', key: 'u', description: 'Undo (also Ctrl+Z)' },
  { action: 'redo', key: 'U', description: 'Redo (also Ctrl+Y, Ctrl+Shift+Z)' },
  { action: 'save', key: 'S', description: 'Save now (also Ctrl+S)' },
  { action: 'brushBigger', key: ']', description: 'Brush size +1 mm' },
  { action: 'brushSmaller', key: '[', description: 'Brush size −1 mm' },
  { action: 'interpolate', key: 'I', description: 'Fill between slices: interpolate the active segment between the slices it is painted on' },
];

const STORAGE_KEY = 'radmark.keys';

export interface KeyStorage {
  getItem(k: string): string | null;
  setItem(k: string, v: string): void;
}

/** The bindings with the user's overrides applied; a key taken by an override is taken from its default owner. */
export function loadBindings(storage: KeyStorage | undefined = globalThis.localStorage): KeyBinding[] {
  let overrides: Record<string, string> = {};
  try {
    overrides = JSON.parse(storage?.getItem(STORAGE_KEY) ?? '{}') as Record<string, string>;
  } catch {
    overrides = {};
  }
  return applyOverrides(overrides);
}

export function applyOverrides(overrides: Record<string, string>): KeyBinding[] {
  const taken = new Set(Object.values(overrides));
  return DEFAULT_BINDINGS.map((b) => {
    const o = overrides[b.action];
    if (o !== undefined) return { ...b, key: o };
    return taken.has(b.key) ? { ...b, key: '' } : b;
  });
}

export function saveBinding(action: EditAction, key: string, storage: KeyStorage | undefined = globalThis.localStorage): KeyBinding[] {
  let overrides: Record<string, string> = {};
  try {
    overrides = JSON.parse(storage?.getItem(STORAGE_KEY) ?? '{}') as Record<string, string>;
  } catch {
    overrides = {};
  }
  for (const [a, k] of Object.entries(overrides)) if (k === key && a !== action) overrides[a] = '';
  overrides[action] = key;
  storage?.setItem(STORAGE_KEY, JSON.stringify(overrides));
  return applyOverrides(overrides);
}

export function actionForKey(bindings: readonly KeyBinding[], key: string): EditAction | undefined {
  return key ? bindings.find((b) => b.key === key)?.action : undefined;
}
