// What the viewer tells the reader about a series' geometry, from the
// server's continuity findings (GET /api/v1/studies/{s}/series/{se}/geometry).
import type { findingJSON, seriesGeometry } from '../api/client.ts';

export interface GeometryNotice {
  level: 'warning' | 'info';
  title: string;
  lines: string[];
  codes: string[];
}

const TITLES: Record<string, string> = {
  gap: 'missing slices (gap)',
  missing_slices: 'missing slices',
  uneven_spacing: 'uneven slice spacing',
  mixed_orientation: 'mixed orientation',
  duplicate_position: 'duplicate slice positions',
  mixed_size: 'images of different sizes',
  gantry_tilt: 'gantry tilt',
  missing_geometry: 'images without position or orientation',
  single_image: 'a single slice (its thickness is assumed)',
  unreadable: 'unreadable images left out',
};

/** Findings that are worth knowing but do not make the volume doubtful. */
const INFO_ONLY = new Set(['single_image']);

const PROJECTION = new Set(['CR', 'DX', 'MG', 'XA', 'RF', 'IO', 'PX', 'US', 'OT', 'SC']);

/**
 * The banner for a series: undefined when the series is a regular volume
 * (or a projection image, which has no volume to check). At most six
 * findings are listed, then a count of the rest.
 */
export function geometryNotice(g: { geometry: seriesGeometry } | { error: string }, modality: string): GeometryNotice | undefined {
  if ('error' in g) {
    if (PROJECTION.has(modality)) return undefined;
    return { level: 'warning', title: `Geometry unknown: ${g.error}. Measurements in mm and 3D views may be wrong.`, lines: [], codes: ['missing_geometry'] };
  }
  const findings: findingJSON[] = g.geometry.findings ?? [];
  if (!findings.length) return undefined;
  const codes = [...new Set(findings.map((f) => f.code))];
  const names = codes.map((c) => TITLES[c] ?? c.replaceAll('_', ' '));
  const lines = findings.slice(0, 6).map((f) => (f.slice >= 0 ? `slice ${f.slice + 1}: ${f.message}` : f.message));
  if (findings.length > 6) lines.push(`… and ${findings.length - 6} more`);
  return {
    level: codes.every((c) => INFO_ONLY.has(c)) ? 'info' : 'warning',
    title: `Check this series before measuring: ${names.join(', ')}.`,
    lines,
    codes,
  };
}
