import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { ApiClient } from './api/client.ts';
import { App } from './App.tsx';
import { DicomWebClient } from './dicomweb/qido.ts';
import { Store, initialState, parseLocation, urlFor } from './state/store.ts';
import type { Services } from './state/useStore.ts';
import './styles.css';

const PROJECT_KEY = 'radmark.project';

const parsed = parseLocation(window.location);
const store = new Store(
  initialState({
    route: parsed.route,
    query: parsed.query,
    projectId: parsed.projectId ?? localStorage.getItem(PROJECT_KEY) ?? undefined,
  }),
);

// The URL follows the route, the search and the project; Back and Forward
// move the app.
function navigate(url: string): void {
  if (url !== window.location.pathname + window.location.search) window.history.pushState(null, '', url);
  const p = parseLocation(window.location);
  store.dispatch({ type: 'navigate', route: p.route });
  if (p.route.page === 'worklist') store.dispatch({ type: 'setQuery', query: p.query });
}
window.addEventListener('popstate', () => navigate(window.location.pathname + window.location.search));
store.subscribe(() => {
  const s = store.getState();
  if (s.projectId) localStorage.setItem(PROJECT_KEY, s.projectId);
  else localStorage.removeItem(PROJECT_KEY);
  const url = urlFor(s.route, s.query, s.projectId);
  if (url !== window.location.pathname + window.location.search) window.history.replaceState(null, '', url);
});

const services: Services = {
  store,
  api: new ApiClient(),
  dicomweb: new DicomWebClient(`${window.location.origin}/dicomweb`),
  navigate,
};
// For the end-to-end tests and debugging.
(window as unknown as { radmark: unknown }).radmark = { store };

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App services={services} />
  </StrictMode>,
);
