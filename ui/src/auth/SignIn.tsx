import { useState } from 'react';
import { type SessionInfo, describeError } from '../api/client.ts';
import { useServices } from '../state/useStore.ts';

/**
 * The sign-in page. Shown when nobody is signed in and whenever the server
 * answers 401 (the session expired): the page under it stays mounted, so
 * unsaved annotations stay in memory (and in localStorage, see
 * annotate/session.ts) and are saved after signing in again.
 */
export function SignIn({ onSignedIn, expired }: { onSignedIn: (s: SessionInfo) => void; expired: boolean }) {
  const { api } = useServices();
  const [name, setName] = useState('');
  const [password, setPassword] = useState('');
  const [error, setError] = useState<string | undefined>();
  const [busy, setBusy] = useState(false);
  return (
    <div className="signin-backdrop" data-testid="signin">
      <form
        className="signin"
        onSubmit={(e) => {
          e.preventDefault();
          setBusy(true);
          setError(undefined);
          api.login(name, password).then(
            (s) => {
              setBusy(false);
              setPassword('');
              onSignedIn(s);
            },
            (err: unknown) => {
              setBusy(false);
              setError(describeError(err));
            },
          );
        }}
      >
        <h2>Sign in to radmark</h2>
        {expired && <p className="notice notice-warning">Your session ended. Sign in again: your unsaved work is kept and saved afterwards.</p>}
        <label>
          Account
          <input name="name" autoComplete="username" value={name} onChange={(e) => setName(e.target.value)} autoFocus data-testid="signin-name" />
        </label>
        <label>
          Password
          <input name="password" type="password" autoComplete="current-password" value={password} onChange={(e) => setPassword(e.target.value)} data-testid="signin-password" />
        </label>
        {error && (
          <p className="notice notice-error" data-testid="signin-error">
            {error}
          </p>
        )}
        <button type="submit" disabled={busy || !name || !password} data-testid="signin-submit">
          {busy ? 'Signing in…' : 'Sign in'}
        </button>
      </form>
    </div>
  );
}
