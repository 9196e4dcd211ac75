import type { Shortcut } from './presets.ts';

export function HelpOverlay({ shortcuts, onClose }: { shortcuts: readonly Shortcut[]; onClose: () => void }) {
  return (
    <div className="help-backdrop" onClick={onClose} data-testid="help">
      <div className="help" onClick={(e) => e.stopPropagation()} role="dialog" aria-label="Keyboard shortcuts">
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
            <tr>
              <td>mouse</td>
              <td>left: current tool · middle: pan · right: zoom · wheel: scroll slices</td>
            </tr>
          </tbody>
        </table>
        <button type="button" onClick={onClose}>
          Close (Esc)
        </button>
      </div>
    </div>
  );
}
