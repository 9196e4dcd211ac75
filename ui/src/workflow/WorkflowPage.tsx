// The workflow's navigation links and pages, for App.tsx.
import type { SessionInfo } from '../api/client.ts';
import { type WorkPage, urlFor } from '../state/store.ts';
import { useAppState, useServices } from '../state/useStore.ts';
import { AdminPage } from './AdminPage.tsx';
import { ExportsPage } from './ExportsPage.tsx';
import { ProjectPage } from './ProjectPage.tsx';
import { ArbitrationQueue, MyTasks, ReviewQueue } from './TaskPages.tsx';

const LINKS: Array<{ page: 'worklist' | WorkPage; label: string }> = [
  { page: 'worklist', label: 'Studies' },
  { page: 'tasks', label: 'My tasks' },
  { page: 'review', label: 'Review' },
  { page: 'arbitration', label: 'Arbitration' },
  { page: 'project', label: 'Project' },
  { page: 'exports', label: 'Exports & releases' },
  { page: 'admin', label: 'Users' },
];

export function WorkflowNav() {
  const { store, navigate } = useServices();
  const current = useAppState((s) => s.route.page);
  const projectId = useAppState((s) => s.projectId);
  return (
    <nav className="nav">
      {LINKS.map((l) => {
        const url = urlFor({ page: l.page }, store.getState().query, projectId);
        return (
          <a
            key={l.page}
            href={url}
            className={current === l.page ? 'current' : ''}
            data-testid={`nav-${l.page}`}
            onClick={(e) => {
              e.preventDefault();
              navigate(url);
            }}
          >
            {l.label}
          </a>
        );
      })}
    </nav>
  );
}

export function WorkflowPage({ page, session }: { page: WorkPage; session?: SessionInfo }) {
  switch (page) {
    case 'tasks':
      return <MyTasks session={session} />;
    case 'review':
      return <ReviewQueue session={session} />;
    case 'arbitration':
      return <ArbitrationQueue session={session} />;
    case 'project':
      return <ProjectPage session={session} />;
    case 'exports':
      return <ExportsPage session={session} />;
    case 'admin':
      return <AdminPage session={session} />;
  }
}
