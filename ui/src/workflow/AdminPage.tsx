// Users and memberships: the site admin's accounts (add, admin flag,
// disable), the selected project's members and their roles (its managers),
// and one's own API tokens (list, make, revoke).
import { type FormEvent, useState } from 'react';
import type { SessionInfo, User, memberInfo } from '../api/client.ts';
import { useLoad } from '../state/useLoad.ts';
import { useAppState, useServices } from '../state/useStore.ts';
import { ROLES, type Role } from './api.ts';
import { attempt, rolesIn, useReload, useWorkflow, when } from './common.tsx';

export function AdminPage({ session }: { session?: SessionInfo }) {
  const projectId = useAppState((s) => s.projectId);
  const project = useAppState((s) => s.projects.find((p) => p.id === s.projectId));
  const admin = !!session?.user.admin;
  const manager = rolesIn(session, projectId).has('manager');
  // One reload counter for the accounts, so a new user can be made a member at once.
  const [users, usersChanged] = useReload();
  return (
    <div className="work" data-testid="admin-page">
      <h2>Users &amp; memberships</h2>
      {admin && <Users reload={users} changed={usersChanged} />}
      {projectId && manager && <Members project={projectId} name={project?.name ?? projectId} admin={admin} usersReload={users} />}
      {projectId && !manager && <p className="muted">The members of {project?.name ?? 'this project'} are managed by its managers.</p>}
      {!projectId && <p className="muted">Choose a project at the top right to manage its members.</p>}
      <Tokens />
    </div>
  );
}

function Users({ reload, changed: bump }: { reload: number; changed: () => void }) {
  const services = useServices();
  const wf = useWorkflow();
  const users = useLoad(`users/${reload}`, (signal) => wf.users(signal));
  const [form, setForm] = useState({ name: '', displayName: '', password: '', admin: false });
  const [made, setMade] = useState<{ name: string; password?: string } | undefined>();
  const add = (e: FormEvent) => {
    e.preventDefault();
    void attempt(services, 'The account was not made', () => wf.createUser({ name: form.name.trim(), displayName: form.displayName.trim() || undefined, password: form.password || undefined, admin: form.admin })).then((r) => {
      if (!r?.user) return;
      setMade({ name: r.user.name, password: r.password });
      setForm({ name: '', displayName: '', password: '', admin: false });
      bump();
    });
  };
  const change = (u: User, req: { admin?: boolean; disabled?: boolean }) => void attempt(services, `${u.name} was not changed`, () => wf.updateUser(u.id, req)).then(bump);
  return (
    <section data-testid="users">
      <h3>Accounts</h3>
      {users.state === 'error' && <div className="notice notice-error">{users.message}</div>}
      <table className="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Shown as</th>
            <th>Email</th>
            <th>Site admin</th>
            <th>Disabled</th>
            <th>Since</th>
          </tr>
        </thead>
        <tbody>
          {users.state === 'done' &&
            users.value.map((u) => (
              <tr key={u.id} data-testid="user-row" data-user={u.name}>
                <td>{u.name}</td>
                <td>{u.displayName ?? ''}</td>
                <td>{u.email ?? ''}</td>
                <td>
                  <input type="checkbox" checked={u.admin} onChange={(e) => change(u, { admin: e.target.checked })} />
                </td>
                <td>
                  <input type="checkbox" checked={!!u.disabled} onChange={(e) => change(u, { disabled: e.target.checked })} />
                </td>
                <td>{when(u.createdAt)}</td>
              </tr>
            ))}
        </tbody>
      </table>
      <form className="bar" onSubmit={add} style={{ marginTop: 8 }}>
        <input placeholder="account name" value={form.name} required onChange={(e) => setForm({ ...form, name: e.target.value })} data-testid="new-user-name" />
        <input placeholder="name shown" value={form.displayName} onChange={(e) => setForm({ ...form, displayName: e.target.value })} />
        <input type="password" placeholder="password (empty: one is made)" value={form.password} onChange={(e) => setForm({ ...form, password: e.target.value })} autoComplete="new-password" />
        <label>
          <input type="checkbox" checked={form.admin} onChange={(e) => setForm({ ...form, admin: e.target.checked })} /> site admin
        </label>
        <button type="submit" data-testid="new-user-add">
          Add user
        </button>
      </form>
      {made && (
        <p data-testid="new-user-made">
          Account {made.name} made.
          {made.password && (
            <>
              {' '}
              Its password, shown only now: <span className="secret">{made.password}</span>
            </>
          )}
        </p>
      )}
    </section>
  );
}

function RoleChecks({ roles, onChange, testid }: { roles: Role[]; onChange: (r: Role[]) => void; testid?: string }) {
  return (
    <span className="checks" data-testid={testid}>
      {ROLES.map((r) => (
        <label key={r}>
          <input type="checkbox" checked={roles.includes(r)} data-role={r} onChange={(e) => onChange(e.target.checked ? [...roles, r] : roles.filter((x) => x !== r))} /> {r}
        </label>
      ))}
    </span>
  );
}

function Members({ project, name, admin, usersReload }: { project: string; name: string; admin: boolean; usersReload: number }) {
  const services = useServices();
  const wf = useWorkflow();
  const [reload, bump] = useReload();
  const members = useLoad(`${project}/members/${reload}`, (signal) => wf.members(project, signal));
  const users = useLoad(admin ? `users/${usersReload}` : undefined, (signal) => wf.users(signal));
  const [who, setWho] = useState('');
  const [roles, setRoles] = useState<Role[]>(['annotator']);
  const set = (user: string, rs: Role[]) =>
    void attempt(services, `The roles of ${user} were not changed`, () => (rs.length ? wf.setMember(project, user, rs) : wf.removeMember(project, user))).then(bump);
  const remove = (m: memberInfo) => void attempt(services, `${m.name} was not removed`, () => wf.removeMember(project, m.userId)).then(bump);
  const add = (e: FormEvent) => {
    e.preventDefault();
    if (!who.trim() || !roles.length) return;
    set(who.trim(), roles);
    setWho('');
  };
  const list = members.state === 'done' ? members.value : [];
  return (
    <section data-testid="members">
      <h3>Members of {name}</h3>
      {members.state === 'error' && <div className="notice notice-error">{members.message}</div>}
      <table className="grid">
        <thead>
          <tr>
            <th>Member</th>
            <th>Roles</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {list.map((m) => (
            <tr key={m.userId} data-testid="member-row" data-user={m.name}>
              <td>
                {m.name}
                {m.displayName ? <span className="muted"> · {m.displayName}</span> : null}
              </td>
              <td>
                <RoleChecks roles={(m.roles ?? []) as Role[]} onChange={(rs) => set(m.userId, rs)} />
              </td>
              <td>
                <button type="button" className="link" data-testid="member-remove" onClick={() => remove(m)}>
                  Remove
                </button>
              </td>
            </tr>
          ))}
        </tbody>
      </table>
      <form className="bar" onSubmit={add} style={{ marginTop: 8 }}>
        {users.state === 'done' ? (
          <select value={who} onChange={(e) => setWho(e.target.value)} data-testid="member-user">
            <option value="">— add a user —</option>
            {users.value
              .filter((u) => !list.some((m) => m.userId === u.id))
              .map((u) => (
                <option key={u.id} value={u.name}>
                  {u.name}
                </option>
              ))}
          </select>
        ) : (
          <input placeholder="account name" value={who} onChange={(e) => setWho(e.target.value)} data-testid="member-user" />
        )}
        <RoleChecks roles={roles} onChange={setRoles} testid="member-roles" />
        <button type="submit" data-testid="member-add" disabled={!who.trim() || !roles.length}>
          Add member
        </button>
      </form>
    </section>
  );
}

function Tokens() {
  const services = useServices();
  const wf = useWorkflow();
  const [reload, bump] = useReload();
  const tokens = useLoad(`tokens/${reload}`, (signal) => wf.tokens(signal));
  const [label, setLabel] = useState('');
  const [made, setMade] = useState<string | undefined>();
  const create = (e: FormEvent) => {
    e.preventDefault();
    void attempt(services, 'The token was not made', () => wf.createToken({ name: label.trim() })).then((t) => {
      if (!t) return;
      setMade(t.token);
      setLabel('');
      bump();
    });
  };
  return (
    <section data-testid="tokens">
      <h3>My API tokens</h3>
      {tokens.state === 'error' && <div className="notice notice-error">{tokens.message}</div>}
      <table className="grid">
        <thead>
          <tr>
            <th>Name</th>
            <th>Starts with</th>
            <th>Scopes</th>
            <th>Made</th>
            <th>Last used</th>
            <th>Expires</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {tokens.state === 'done' && tokens.value.length === 0 && (
            <tr>
              <td colSpan={7} className="muted">
                No token.
              </td>
            </tr>
          )}
          {tokens.state === 'done' &&
            tokens.value.map((t) => (
              <tr key={t.id} data-testid="token-row" data-revoked={t.revokedAt ? '1' : '0'}>
                <td>{t.name}</td>
                <td>
                  <code>{t.prefix}</code>
                </td>
                <td>{(t.scopes ?? []).join(', ')}</td>
                <td>{when(t.createdAt)}</td>
                <td>{when(t.lastUsedAt)}</td>
                <td>{t.expiresAt ? when(t.expiresAt) : 'never'}</td>
                <td>
                  {t.revokedAt ? (
                    <span className="muted">revoked {when(t.revokedAt)}</span>
                  ) : (
                    <button type="button" className="link" data-testid="token-revoke" onClick={() => void attempt(services, 'The token was not revoked', () => wf.revokeToken(t.id)).then(bump)}>
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
        </tbody>
      </table>
      <form className="bar" onSubmit={create} style={{ marginTop: 8 }}>
        <input placeholder="what the token is for" value={label} required onChange={(e) => setLabel(e.target.value)} data-testid="token-name" />
        <button type="submit" data-testid="token-create">
          Make a token
        </button>
      </form>
      {made && (
        <p data-testid="token-made">
          Your new token, shown only now (send it as Authorization: Bearer …): <span className="secret">{made}</span>
        </p>
      )}
    </section>
  );
}
