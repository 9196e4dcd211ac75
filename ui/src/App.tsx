import { useEffect } from 'react';
import { describeError } from './api/client.ts';
import { Notices } from './components/Notices.tsx';
import { ProjectSelector } from './components/ProjectSelector.tsx';
import { urlFor } from './state/store.ts';
import { type Services, ServicesContext, useAppState } from './state/useStore.ts';
import { Viewer } from './viewer/Viewer.tsx';
import { Worklist } from './worklist/Worklist.tsx';

export function App({ services }: { services: Services }) {
  return (
    <ServicesContext.Provider value={services}>
      <Shell services={services} />
    </ServicesContext.Provider>
  );
}

function Shell({ services }: { services: Services }) {
  const route = useAppState((s) => s.route);
  const { store, api } = services;

  // Projects are listed once; the user picks the one to work in.
  useEffect(() => {
    const ctl = new AbortController();
    api.listProjects(ctl.signal).then(
      (projects) => store.dispatch({ type: 'projectsLoaded', projects }),
      (err) => {
        if (ctl.signal.aborted) return;
        store.dispatch({ type: 'projectsLoaded', projects: [] });
        store.dispatch({ type: 'notify', level: 'error', text: `Projects could not be listed: ${describeError(err)}` });
      },
    );
    return () => ctl.abort();
  }, [api, store]);

  const home = () => {
    const s = store.getState();
    services.navigate(urlFor({ page: 'worklist' }, s.query, s.projectId));
  };

  return (
    <div className="app">
      <header className="topbar">
        <a
          className="brand"
          href="/"
          onClick={(e) => {
            e.preventDefault();
            home();
          }}
        >
          radmark
        </a>
        {route.page === 'viewer' && (
          <button type="button" className="link" onClick={home} data-testid="back-to-list">
            ← Study list
          </button>
        )}
        <span className="spacer" />
        <ProjectSelector />
      </header>
      <Notices />
      <main className="content">
        {route.page === 'worklist' ? <Worklist /> : <Viewer key={route.studyUID} studyUID={route.studyUID} seriesUID={route.seriesUID} />}
      </main>
    </div>
  );
}
