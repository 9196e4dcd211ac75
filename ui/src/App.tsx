import { useEffect, useState } from 'react';
import { type SessionInfo, describeError } from './api/client.ts';
import { SignIn } from './auth/SignIn.tsx';
import { Notices } from './components/Notices.tsx';
import { ProjectSelector } from './components/ProjectSelector.tsx';
import { urlFor } from './state/store.ts';
import { type Services, ServicesContext, useAppState } from './state/useStore.ts';
import { Viewer } from './viewer/Viewer.tsx';
import { Worklist } from './worklist/Worklist.tsx';
import { TaskBar } from './workflow/TaskBar.tsx';
import { WorkflowNav, WorkflowPage } from './workflow/WorkflowPage.tsx';

export function App({ services }: { services: Services }) {
  return (
    <ServicesContext.Provider value={services}>
      <Shell services={services} />
    </ServicesContext.Provider>
  );
}

type Auth = { state: 'checking' } | { state: 'anonymous' } | { state: 'signedIn'; session: SessionInfo } | { state: 'signedOut'; expired: boolean };

function Shell({ services }: { services: Services }) {
  const route = useAppState((s) => s.route);
  const { store, api } = services;
  const [auth, setAuth] = useState<Auth>({ state: 'checking' });

  // Who is signed in; a 401 from any call later shows the sign-in page
  // over the app (which stays mounted, keeping unsaved work).
  useEffect(() => {
    // oxlint-disable-next-line react/immutability -- the API client is an outside object; its 401 hook is set once here
    api.onUnauthorized = () => setAuth((a) => (a.state === 'signedOut' ? a : { state: 'signedOut', expired: a.state === 'signedIn' }));
    const ctl = new AbortController();
    api.me(ctl.signal).then(
      (session) => setAuth(session ? { state: 'signedIn', session } : { state: 'anonymous' }),
      (err: unknown) => {
        if (ctl.signal.aborted) return;
        setAuth({ state: 'signedOut', expired: false });
        if (!(err instanceof Error && 'status' in err && (err as { status: number }).status === 401)) {
          store.dispatch({ type: 'notify', level: 'error', text: `Cannot reach the radmark server: ${describeError(err)}` });
        }
      },
    );
    return () => ctl.abort();
  }, [api, store]);
  const ready = auth.state === 'signedIn' || auth.state === 'anonymous';
  const userKey = auth.state === 'signedIn' ? auth.session.user.id : auth.state;
  const signedIn = auth.state === 'signedIn' ? auth.session : undefined;

  // Projects are listed once per signed-in user; the user picks the one to work in.
  useEffect(() => {
    if (userKey === 'checking' || userKey === 'signedOut') return;
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
  }, [api, store, userKey]);

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
        {auth.state === 'signedIn' && <WorkflowNav />}
        <span className="spacer" />
        <ProjectSelector />
        {auth.state === 'signedIn' && (
          <span className="user" data-testid="user">
            {auth.session.user.displayName || auth.session.user.name}
            <button
              type="button"
              className="link"
              data-testid="signout"
              onClick={() => {
                api.logout().finally(() => {
                  localStorage.removeItem('radmark.drafts');
                  setAuth({ state: 'signedOut', expired: false });
                });
              }}
            >
              Sign out
            </button>
          </span>
        )}
      </header>
      <Notices />
      <main className="content">
        {(ready || (auth.state === 'signedOut' && auth.expired)) &&
          (route.page === 'worklist' ? (
            <Worklist />
          ) : route.page === 'viewer' ? (
            <>
              {route.taskId && <TaskBar key={route.taskId} taskId={route.taskId} session={signedIn} reader={route.reader} />}
              {/* A task opened by someone else (a reviewer, an arbiter) shows that reader's annotations. */}
              <Viewer key={`${route.studyUID}|${route.reader ?? ''}`} studyUID={route.studyUID} seriesUID={route.seriesUID} user={route.reader ?? signedIn?.user.name} />
            </>
          ) : (
            <WorkflowPage page={route.page} session={signedIn} />
          ))}
      </main>
      {auth.state === 'signedOut' && <SignIn expired={auth.expired} onSignedIn={(session) => setAuth({ state: 'signedIn', session })} />}
    </div>
  );
}
