import { useServices, useAppState } from '../state/useStore.ts';

/** Errors and warnings, said plainly, until the user dismisses them. */
export function Notices() {
  const notices = useAppState((s) => s.notices);
  const { store } = useServices();
  if (!notices.length) return null;
  return (
    <div className="notices" role="status">
      {notices.map((n) => (
        <div key={n.id} className={`notice notice-${n.level}`} data-testid={`notice-${n.level}`}>
          <span>{n.text}</span>
          <button type="button" aria-label="Dismiss" onClick={() => store.dispatch({ type: 'dismiss', id: n.id })}>
            ×
          </button>
        </div>
      ))}
    </div>
  );
}
