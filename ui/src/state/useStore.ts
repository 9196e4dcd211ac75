import { createContext, useContext, useSyncExternalStore } from 'react';
import type { ApiClient } from '../api/client.ts';
import type { DicomWebClient } from '../dicomweb/qido.ts';
import type { AppState, Store } from './store.ts';

export interface Services {
  store: Store;
  api: ApiClient;
  dicomweb: DicomWebClient;
  navigate: (url: string) => void;
}

export const ServicesContext = createContext<Services | null>(null);

export function useServices(): Services {
  const s = useContext(ServicesContext);
  if (!s) throw new Error('ServicesContext missing');
  return s;
}

/** A slice of the app state; the component re-renders when it changes. */
export function useAppState<T>(select: (s: AppState) => T): T {
  const { store } = useServices();
  return useSyncExternalStore(store.subscribe, () => select(store.getState()));
}
