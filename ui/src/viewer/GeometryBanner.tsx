import type { seriesGeometry } from '../api/client.ts';
import { geometryNotice } from './geometry.ts';

import type { Load } from '../state/useLoad.ts';

/** Says when the series is not one regular volume (the server's continuity check). */
export function GeometryBanner({ geometry, modality }: { geometry?: Load<seriesGeometry>; modality: string }) {
  if (!geometry || geometry.state === 'loading') return null;
  const n = geometryNotice(geometry.state === 'done' ? { geometry: geometry.value } : { error: geometry.message }, modality);
  if (!n) return null;
  return (
    <div className={`banner banner-${n.level}`} data-testid="geometry-banner" data-codes={n.codes.join(' ')}>
      <b>{n.title}</b>
      {n.lines.length > 0 && (
        <ul>
          {n.lines.map((l, i) => (
            <li key={i}>{l}</li>
          ))}
        </ul>
      )}
    </div>
  );
}
