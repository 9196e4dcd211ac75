import { useAppState, useServices } from '../state/useStore.ts';

/** The project the user works in; annotations (part 2) are saved into it. */
export function ProjectSelector() {
  const { store } = useServices();
  const projects = useAppState((s) => s.projects);
  const loaded = useAppState((s) => s.projectsLoaded);
  const projectId = useAppState((s) => s.projectId);
  return (
    <label className="project-selector">
      Project{' '}
      <select
        data-testid="project-select"
        value={projectId ?? ''}
        disabled={!loaded}
        onChange={(e) => store.dispatch({ type: 'selectProject', projectId: e.target.value || undefined })}
      >
        <option value="">{!loaded ? 'loading…' : projects.length ? '— choose a project —' : 'no projects'}</option>
        {projects.map((p) => (
          <option key={p.id} value={p.id} title={p.description}>
            {p.name}
          </option>
        ))}
      </select>
    </label>
  );
}
