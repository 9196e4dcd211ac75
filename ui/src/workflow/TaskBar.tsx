// The task a study is open for, over the viewer: its state and what the
// user may do next. The reader submits (their unsaved annotations are
// saved first) and resolves review comments; the reviewer comments,
// accepts or requests changes with a reason; the arbiter looks at each
// read and picks, merges, or takes their own edited version.
import { useEffect, useRef, useState, useSyncExternalStore } from 'react';
import type { Comment, CommentRequest, SessionInfo, Task } from '../api/client.ts';
import { openSessions } from '../annotate/session.ts';
import { type WorkPage, urlFor } from '../state/store.ts';
import { useLoad } from '../state/useLoad.ts';
import { useServices } from '../state/useStore.ts';
import { StateBadge, attempt, duration, rolesIn, useReload, useWorkflow, when } from './common.tsx';
import { PIN_KEYS, type PinTarget, describePin, pinBoard } from './pins.ts';

/** Saves every open annotation session of the study that has unsaved changes; throws when one cannot be saved. */
async function saveOpenWork(studyUID: string): Promise<void> {
  for (const s of openSessions) {
    if (s.studyUID !== studyUID) continue;
    s.changed();
    if (!s.snapshot().dirty) continue;
    const rev = await s.save('before submitting');
    if (!rev) {
      const st = s.snapshot().status;
      throw new Error(st.state === 'error' || st.state === 'conflict' ? st.message : 'your annotations could not be saved');
    }
  }
}

export function TaskBar({ taskId, session, reader }: { taskId: string; session?: SessionInfo; reader?: string }) {
  const services = useServices();
  const { store, navigate } = services;
  const wf = useWorkflow();
  const [reload, bump] = useReload();
  const [text, setText] = useState('');
  const [busy, setBusy] = useState(false);
  const me = session?.user.name ?? '';
  const pins = useSyncExternalStore(
    (l) => pinBoard.subscribe(l),
    () => pinBoard.get(),
  );
  const listRef = useRef<HTMLUListElement>(null);
  useEffect(() => () => pinBoard.reset(), []);
  const detail = useLoad(`${taskId}/${reload}`, async (signal) => {
    const d = await wf.task(taskId, signal);
    const task = d.task!;
    const [cs, comments] = await Promise.all([wf.caseDetail(task.caseId, signal), wf.comments(task.caseId, signal)]);
    const visible = comments.filter((c) => !c.taskId || c.taskId === task.id || task.kind === 'arbitration');
    return { task, allowed: d.allowed ?? [], reads: (cs.tasks ?? []).filter((t) => t.kind === 'read'), kase: cs.case, visible };
  });
  const loaded = detail.state === 'done' ? detail.value : undefined;
  usePublishComments(loaded?.visible, !!loaded && isReviewing(loaded.task, session, me), pins.selected, listRef);
  if (detail.state === 'loading') return <div className="taskbar muted">Loading the task…</div>;
  if (detail.state === 'error') return <div className="taskbar notice notice-error">The task cannot be shown: {detail.message}</div>;
  const { task, allowed, reads, kase, visible } = detail.value;
  const roles = rolesIn(session, task.projectId);
  const mine = task.assignee === me;
  const reviewing = isReviewing(task, session, me);

  const back = (page: WorkPage, note: string) => {
    store.dispatch({ type: 'notify', level: 'info', text: note });
    navigate(urlFor({ page }, store.getState().query, task.projectId));
  };
  const act = async (what: string, run: () => Promise<unknown>) => {
    setBusy(true);
    const ok = await attempt(services, what, async () => (await run(), true));
    setBusy(false);
    bump();
    return ok === true;
  };
  const submit = () =>
    void act('Not submitted', async () => {
      await saveOpenWork(task.studyUID);
      await wf.transition(task, 'submit');
    }).then((ok) => ok && back('tasks', 'Submitted for review.'));
  const resume = () => void act('The task could not be resumed', () => wf.transition(task, 'start')).then((ok) => ok && window.location.reload());
  const addComment = (then?: () => Promise<unknown>) => async () => {
    if (text.trim()) await wf.addComment(task.caseId, { body: text.trim(), taskId: task.id, ...pinnedTo(pins.target) });
    setText('');
    pinBoard.update({ target: undefined, placing: false });
    if (then) await then();
  };
  const requestChanges = () => {
    if (!text.trim()) {
      store.dispatch({ type: 'notify', level: 'warning', text: 'Say what should change: write the reason in the comment box first.' });
      return;
    }
    void act('Changes not requested', addComment(() => wf.transition(task, 'request-changes'))).then((ok) => ok && back('review', 'Changes requested; the read went back to its reader.'));
  };
  const accept = () => void act('Not accepted', addComment(() => wf.transition(task, 'accept'))).then((ok) => ok && back('review', 'Read accepted.'));
  const resolve = (c: Comment, resolved: boolean) => void act('The comment could not be changed', () => wf.resolveComment(c, resolved));
  const decide = (what: string, decision: { pick?: string; merge?: string[]; edit?: boolean }) =>
    void act(`Not ${what}`, async () => {
      if (decision.edit) await saveOpenWork(task.studyUID);
      await wf.transition(task, 'resolve', { decision: { ...decision, ...(text.trim() ? { note: text.trim() } : {}) } });
    }).then((ok) => ok && back('arbitration', 'Arbitration resolved; the case is done.'));
  const show = (who?: string) => navigate(urlFor({ page: 'viewer', studyUID: task.studyUID, seriesUID: task.seriesUID, taskId: task.id, ...(who && who !== me ? { reader: who } : {}) }, store.getState().query, task.projectId));

  const showing = reader ?? me;
  const target = pins.target;
  return (
    <div className="taskbar" data-testid="taskbar" data-task={task.id} data-state={task.state}>
      <div className="row">
        <strong>{task.kind === 'read' ? `Read ${task.slot}` : 'Arbitration'}</strong>
        <StateBadge state={task.state} />
        <span className="muted">
          {task.assignee ? `${task.kind === 'read' ? 'reader' : 'arbiter'} ${task.assignee}` : 'unassigned'} · priority {task.priority} · due {when(task.due)} · {duration(task.workSeconds)} spent
          {kase ? ` · case ${kase.state}` : ''}
          {showing !== me ? ` · showing ${showing}'s annotations` : ''}
        </span>
        <span className="spacer" />
        {mine && task.kind === 'read' && task.state === 'in_progress' && (
          <button type="button" data-testid="task-submit" disabled={busy} onClick={submit}>
            Submit for review
          </button>
        )}
        {mine && allowed.includes('start') && (
          <button type="button" data-testid="task-resume" disabled={busy} onClick={resume}>
            {task.state === 'changes_requested' ? 'Resume to fix' : 'Start'}
          </button>
        )}
        {reviewing && task.state === 'submitted' && (
          <button type="button" data-testid="task-take-review" disabled={busy} onClick={() => void act('Not taken into review', () => wf.transition(task, 'review'))}>
            Take into review
          </button>
        )}
        {reviewing && task.state === 'in_review' && (
          <>
            <button type="button" data-testid="task-accept" disabled={busy} onClick={accept}>
              Accept
            </button>
            <button type="button" data-testid="task-request-changes" disabled={busy} onClick={requestChanges}>
              Request changes
            </button>
          </>
        )}
      </div>
      {task.kind === 'arbitration' && mine && task.state === 'in_progress' && (
        <div className="row" data-testid="arbitration">
          <span>Reads:</span>
          {reads.map((r) => (
            <span key={r.id} className="row">
              <button type="button" className={showing === r.assignee ? 'active' : ''} onClick={() => show(r.assignee)} data-testid={`show-${r.assignee ?? ''}`}>
                Show {r.assignee}
              </button>
              <button type="button" disabled={busy} onClick={() => decide('picked', { pick: r.id })} data-testid={`pick-${r.slot}`}>
                Pick read {r.slot}
              </button>
            </span>
          ))}
          <button type="button" className={showing === me ? 'active' : ''} data-testid="show-mine" onClick={() => show()}>
            Show my version
          </button>
          <button type="button" disabled={busy} data-testid="merge-reads" onClick={() => decide('merged', { merge: reads.map((r) => r.id) })}>
            Merge all reads
          </button>
          <button type="button" disabled={busy} data-testid="use-mine" onClick={() => decide('resolved', { edit: true })} title="Take your own edited annotations as the case's result">
            Use my edited version
          </button>
          {kase?.disagreement && <span className="muted">Why: {kase.disagreement}</span>}
        </div>
      )}
      {(reviewing || (task.kind === 'arbitration' && mine)) && (
        <div className="row">
          <textarea
            data-testid="comment-text"
            placeholder={task.kind === 'arbitration' ? 'A note on the decision' : 'A comment for the reader (the reason, when requesting changes)'}
            value={text}
            onChange={(e) => setText(e.target.value)}
          />
          {reviewing && (
            <button type="button" data-testid="comment-add" disabled={busy || !text.trim()} onClick={() => void act('Not commented', addComment())}>
              {target ? 'Pin comment' : 'Comment'}
            </button>
          )}
        </div>
      )}
      {reviewing && (
        <div className="row pin-row" data-testid="pin-controls">
          <span className="muted">Pin to:</span>
          <button type="button" className={pins.placing ? 'active' : ''} data-testid="pin-point" title={`The next click in an image places the pin (${PIN_KEYS.pin})`} onClick={() => pinBoard.togglePlacing()}>
            {pins.placing ? 'Click in an image…' : 'a point'}
          </button>
          <select
            data-testid="pin-item"
            value={target?.kind === 'item' ? target.item : ''}
            onChange={(e) => pinBoard.update({ placing: false, target: e.target.value ? { kind: 'item', item: e.target.value } : undefined })}
          >
            <option value="">an item…</option>
            {pins.items.map((it) => (
              <option key={it.id} value={it.id}>
                {it.kind.replace('_', ' ')} · {it.label}
              </option>
            ))}
          </select>
          {target && (
            <span className="pin-target" data-testid="pin-target" data-kind={target.kind}>
              {describePin(target.kind === 'point' ? { lps: target.lps } : { item: target.item }, pins.items)}
              <button type="button" className="link" title="Do not pin" onClick={() => pinBoard.update({ target: undefined })}>
                ✕
              </button>
            </span>
          )}
        </div>
      )}
      {visible.length > 0 && (
        <ul className="comments" data-testid="comments" ref={listRef}>
          {visible.map((c, i) => (
            <li
              key={c.id}
              className={`${c.resolved ? 'resolved' : ''}${pins.selected === c.id ? ' selected' : ''}`}
              data-testid="comment"
              data-comment={c.id}
              data-resolved={c.resolved ? '1' : '0'}
              data-pinned={c.lps ? 'point' : c.item ? 'item' : ''}
            >
              <span className="muted">{i + 1}</span>
              <strong>{c.author}</strong>
              <span className="body">{c.body}</span>
              {(c.lps || c.item) && (
                <button type="button" className="link" data-testid="comment-jump" title={`Show where it is pinned (${PIN_KEYS.next}: the next one)`} onClick={() => pinBoard.jumpTo(c.id)}>
                  {describePin(c, pins.items)}
                </button>
              )}
              <span className="muted">
                {when(c.createdAt)}
                {c.resolved ? ` · resolved by ${c.resolvedBy ?? '?'}` : ''}
              </span>
              {(mine || c.author === me || roles.has('manager')) && (
                <button type="button" className="link" data-testid="comment-resolve" disabled={busy} onClick={() => resolve(c, !c.resolved)}>
                  {c.resolved ? 'Reopen' : 'Resolve'}
                </button>
              )}
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}

/** The fields of a new comment that pin it (pins.ts). */
function pinnedTo(t: PinTarget | undefined): Pick<CommentRequest, 'lps' | 'image' | 'item'> {
  if (!t) return {};
  return t.kind === 'point' ? { lps: t.lps, ...(t.image ? { image: t.image } : {}) } : { item: t.item };
}

/** Publishes a task's comments to the pin board and scrolls a selected comment into view. */
function usePublishComments(comments: Comment[] | undefined, canPin: boolean, selected: string | undefined, list: React.RefObject<HTMLUListElement | null>): void {
  useEffect(() => {
    pinBoard.update({ comments: comments ?? [], canPin, ...(canPin ? {} : { placing: false, target: undefined }) });
  }, [comments, canPin]);
  useEffect(() => {
    if (selected) list.current?.querySelector(`[data-comment="${CSS.escape(selected)}"]`)?.scrollIntoView({ block: 'nearest' });
  }, [selected, list]);
}

/** A reviewer (or manager) looking at someone else's read. */
function isReviewing(task: Task, session: SessionInfo | undefined, me: string): boolean {
  const roles = rolesIn(session, task.projectId);
  return task.kind === 'read' && task.assignee !== me && (roles.has('reviewer') || roles.has('manager'));
}
