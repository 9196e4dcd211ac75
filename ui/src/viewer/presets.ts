// Window/level presets per modality and the keyboard shortcuts of the
// viewer. Plain data and arithmetic, so they are unit-tested without a
// browser.

export interface WindowPreset {
  id: string;
  label: string;
  /** Window centre and width in the modality's units (HU for CT). */
  center: number;
  width: number;
  /** The key that applies it. */
  key: string;
}

/** CT presets as radiology departments commonly set them (HU). */
export const CT_PRESETS: readonly WindowPreset[] = [
  { id: 'soft-tissue', label: 'Soft tissue', center: 40, width: 400, key: '1' },
  { id: 'lung', label: 'Lung', center: -600, width: 1500, key: '2' },
  { id: 'bone', label: 'Bone', center: 300, width: 1500, key: '3' },
  { id: 'brain', label: 'Brain', center: 40, width: 80, key: '4' },
  { id: 'liver', label: 'Liver', center: 60, width: 160, key: '5' },
  { id: 'mediastinum', label: 'Mediastinum', center: 50, width: 350, key: '6' },
];

/** The preset that restores the series' own (or computed) window. */
export const AUTO_PRESET_KEY = '0';

export function presetsFor(modality: string): readonly WindowPreset[] {
  return modality === 'CT' ? CT_PRESETS : [];
}

export interface VoiRange {
  lower: number;
  upper: number;
}

/** DICOM window (centre, width) → the value range Cornerstone maps to black…white. */
export function windowToRange(center: number, width: number): VoiRange {
  const w = Math.max(1, width);
  return { lower: center - w / 2, upper: center + w / 2 };
}

export function rangeToWindow(r: VoiRange): { center: number; width: number } {
  return { center: (r.lower + r.upper) / 2, width: r.upper - r.lower };
}

/**
 * The automatic window of an image: the low and high percentiles of its
 * values (1 % and 99 % by default), so a few very bright or dark voxels
 * do not flatten the picture. MR has no absolute scale, so this is its
 * "auto" preset when the images carry no window of their own.
 */
export function autoRange(values: ArrayLike<number>, lowPct = 0.01, highPct = 0.99, maxSamples = 262_144): VoiRange {
  const n = values.length;
  if (!n) return { lower: 0, upper: 1 };
  // Percentiles of an evenly spread sample: exact for small images, and
  // within a fraction of a percent for volumes (sorting 256 k numbers takes
  // a few ms).
  const step = Math.max(1, Math.floor(n / maxSamples));
  const sample = new Float64Array(Math.ceil(n / step));
  for (let i = 0, j = 0; i < n; i += step, j++) sample[j] = values[i];
  sample.sort();
  const at = (pct: number) => sample[Math.min(sample.length - 1, Math.max(0, Math.round(pct * (sample.length - 1))))];
  const lower = at(lowPct);
  const upper = at(highPct);
  if (!(upper > lower)) return { lower: lower - 0.5, upper: lower + 0.5 };
  return { lower, upper };
}

/** Left-mouse tools the toolbar and keys switch between. */
export type PrimaryTool = 'WindowLevel' | 'Pan' | 'Zoom' | 'Crosshairs' | 'StackScroll';

export interface Shortcut {
  key: string;
  description: string;
}

/** Every key the viewer answers to; the help overlay lists these. */
export const SHORTCUTS: readonly Shortcut[] = [
  ...CT_PRESETS.map((p) => ({ key: p.key, description: `CT window: ${p.label} (W ${p.width} / L ${p.center})` })),
  { key: AUTO_PRESET_KEY, description: 'Window of the series (or automatic, from its values)' },
  { key: 'w', description: 'Left mouse: window/level' },
  { key: 'p', description: 'Left mouse: pan' },
  { key: 'z', description: 'Left mouse: zoom' },
  { key: 'x', description: 'Left mouse: crosshairs (MPR)' },
  { key: 's', description: 'Left mouse: scroll slices' },
  { key: 'ArrowUp / ArrowDown', description: 'Previous / next slice' },
  { key: 'PageUp / PageDown', description: 'Ten slices back / forward' },
  { key: 'c', description: 'Cine: play / stop' },
  { key: 'm', description: 'Switch between MPR and a single stack' },
  { key: 'r', description: 'Reset zoom, pan and window' },
  { key: 'i', description: 'Invert grey scale' },
  { key: '?', description: 'Show / hide this help' },
];

export type ViewerCommand =
  | { kind: 'preset'; preset: WindowPreset }
  | { kind: 'autoWindow' }
  | { kind: 'tool'; tool: PrimaryTool }
  | { kind: 'scroll'; delta: number }
  | { kind: 'cine' }
  | { kind: 'layout' }
  | { kind: 'reset' }
  | { kind: 'invert' }
  | { kind: 'help' };

/** The command a key press means in a viewer of the given modality, if any. */
export function commandForKey(key: string, modality: string): ViewerCommand | undefined {
  const preset = presetsFor(modality).find((p) => p.key === key);
  if (preset) return { kind: 'preset', preset };
  switch (key) {
    case AUTO_PRESET_KEY: return { kind: 'autoWindow' };
    case 'w': return { kind: 'tool', tool: 'WindowLevel' };
    case 'p': return { kind: 'tool', tool: 'Pan' };
    case 'z': return { kind: 'tool', tool: 'Zoom' };
    case 'x': return { kind: 'tool', tool: 'Crosshairs' };
    case 's': return { kind: 'tool', tool: 'StackScroll' };
    case 'ArrowUp': return { kind: 'scroll', delta: -1 };
    case 'ArrowDown': return { kind: 'scroll', delta: 1 };
    case 'PageUp': return { kind: 'scroll', delta: -10 };
    case 'PageDown': return { kind: 'scroll', delta: 10 };
    case 'c': return { kind: 'cine' };
    case 'm': return { kind: 'layout' };
    case 'r': return { kind: 'reset' };
    case 'i': return { kind: 'invert' };
    case '?': return { kind: 'help' };
  }
  return undefined;
}

/**
 * Letters for a direction in patient LPS: the dominant axes, strongest
 * first (e.g. [0.9, 0.1, -0.4] → "LI"). Axes under 25 % of the strongest
 * are left out, so axial views show plain "L", "A"...
 */
export function orientationLetters(v: readonly number[]): string {
  const letters: Array<[number, string]> = [
    [v[0], v[0] > 0 ? 'L' : 'R'],
    [v[1], v[1] > 0 ? 'P' : 'A'],
    [v[2], v[2] > 0 ? 'S' : 'I'],
  ];
  const max = Math.max(...letters.map(([c]) => Math.abs(c)));
  if (!(max > 1e-6)) return '';
  return letters
    .filter(([c]) => Math.abs(c) >= 0.25 * max)
    .toSorted((a, b) => Math.abs(b[0]) - Math.abs(a[0]))
    .slice(0, 2)
    .map(([, l]) => l)
    .join('');
}

/** Letters for the edges of a view: right = screen right in LPS, up = screen up. */
const neg = (v: readonly number[]) => v.map((c) => -c);

export function edgeMarkers(right: readonly number[], up: readonly number[]): { top: string; bottom: string; left: string; right: string } {
  return { top: orientationLetters(up), bottom: orientationLetters(neg(up)), left: orientationLetters(neg(right)), right: orientationLetters(right) };
}

/**
 * Patient Orientation (0020,0020) of a projection image gives the
 * directions of its rows and columns as letters ("L\F"); this turns them into
 * edge markers: the right edge is the row direction, the bottom edge the
 * column direction.
 */
export function markersFromPatientOrientation(rowDir: string, colDir: string): { top: string; bottom: string; left: string; right: string } | undefined {
  if (!rowDir || !colDir) return undefined;
  const opposite: Record<string, string> = { L: 'R', R: 'L', A: 'P', P: 'A', H: 'F', F: 'H', S: 'I', I: 'S' };
  const flip = (s: string) => s.split('').map((c) => opposite[c] ?? c).join('');
  return { right: rowDir, left: flip(rowDir), bottom: colDir, top: flip(colDir) };
}
