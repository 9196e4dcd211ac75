import { useState } from 'react';
import { type EditAction, loadBindings, saveBinding } from '../annotate/shortcuts.ts';
import type { Shortcut } from './presets.ts';

/** Every key: the viewer's fixed ones and the annotation keys, which can be changed here (stored in localStorage). */
export function HelpOverlay({ shortcuts, onClose, onBindingsChanged }: { shortcuts: readonly Shortcut[]; onClose: () => void; onBindingsChanged?: () => void }) {
  const [bindings, setBindings] = useState(() => loadBindings());
  const [editing, setEditing] = useState<EditAction | undefined>();
  return (
    <div className="help-backdrop" onClick={onClose} data-testid="help">
      <div className="help" onClick={(e) => e.stopPropagation()} role="dialog" aria-label="Keyboard shortcuts" style={{ maxHeight: '85vh', overflowY: 'auto' }}>
        <h2>Keyboard shortcuts</h2>
        <table>
          <tbody>
            {shortcuts.map((s) => (
              <tr key={s.key}>
                <td>
                  <kbd>{s.key}</kbd>
                </td>
                <td>{s.description}</td>
              </tr>
            ))}
            {bindings.map((b) => (
              <tr key={b.action} data-testid={`binding-${b.action}`}>
                <td>
                  {editing === b.action ? (
                    <input
                      autoFocus
                      size={3}
                      placeholder="key"
                      onKeyDown={(e) => {
                        e.preventDefault();
                        e.stopPropagation();
                        if (e.key === 'Escape') return setEditing(undefined);
                        if (e.key.length !== 1 && e.key !== 'Backspace') return;
                        setBindings(saveBinding(b.action, e.key === 'Backspace' ? '' : e.key));
                        setEditing(undefined);
                        onBindingsChanged?.();
                      }}
                    />
                  ) : (
                    <button type="button" className="link" title="Change this key" onClick={() => setEditing(b.action)}>
                      <kbd>{b.key || '—'}</kbd>
                    </button>
                  )}
                </td>
                <td>{b.description}</td>
              </tr>
            ))}
            <tr>
              <td>mouse</td>
              <td>left: current tool · middle: pan · right: zoom · wheel: scroll slices</td>
            </tr>
          </tbody>
        </table>
        <p className="muted">Click a key to change it (annotation keys; stored in this browser).</p>
        <button type="button" onClick={onClose}>
          Close (Esc)
        </button>
      </div>
    </div>
  );
}
