import { useEffect, useRef, useState } from 'react';

export type Load<T> = { state: 'loading' } | { state: 'done'; value: T } | { state: 'error'; message: string };

/**
 * Loads a value for a key (a URL, a UID...) and reloads when the key
 * changes; earlier requests are aborted. Until the value for the current key
 * arrives, it reports 'loading'. An undefined key loads nothing.
 */
export function useLoad<T>(key: string | undefined, load: (signal: AbortSignal) => Promise<T>): Load<T> {
  const [result, setResult] = useState<{ key: string; load: Load<T> } | undefined>();
  const loadRef = useRef(load);
  useEffect(() => {
    loadRef.current = load;
  });
  useEffect(() => {
    if (key === undefined) return;
    const ctl = new AbortController();
    loadRef.current(ctl.signal).then(
      (value) => setResult({ key, load: { state: 'done', value } }),
      (err: unknown) => {
        if (!ctl.signal.aborted) setResult({ key, load: { state: 'error', message: err instanceof Error ? err.message : String(err) } });
      },
    );
    return () => ctl.abort();
  }, [key]);
  return result && result.key === key ? result.load : { state: 'loading' };
}
