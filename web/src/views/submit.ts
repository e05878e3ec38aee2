/** The submit page: edit a script, see the server's diagnostics as you type, submit it. */
import { gql } from '../client.ts';
import { h, fill } from '../dom.ts';
import { Editor } from '../editor.ts';
import { CHECK, SUBMIT, type Diagnostic } from '../queries.ts';

const EXAMPLE = `# Paths are relative to the server's data root.
use tiny input 32
data "fashion-mini/train" split 0.2
freeze none
epochs 3
batch 64
`;

export function submitView(root: HTMLElement, navigate: (path: string) => void): () => void {
  let timer = 0;
  let latest = 0;
  const status = h('span', { class: 'muted', id: 'check-status' });
  const name = h('input', { name: 'name', placeholder: 'name (optional)', maxlength: 200 });
  const button = h('button', { type: 'submit', id: 'submit' }, 'Submit');
  const editor = new Editor(sessionStorage.getItem('tl.draft') ?? EXAMPLE, () => {
    sessionStorage.setItem('tl.draft', editor.value);
    clearTimeout(timer);
    status.textContent = 'checking…';
    timer = window.setTimeout(() => void check(), 250);
  });
  const check = async () => {
    const ticket = ++latest;
    const { check: result } = await gql<{ check: { ok: boolean; diagnostics: Diagnostic[] } }>(CHECK, { source: editor.value });
    // A slower answer to an older text must not overwrite a newer one.
    if (ticket !== latest) return;
    editor.setDiagnostics(result.diagnostics);
    const errors = result.diagnostics.filter((d) => d.severity === 'ERROR').length;
    status.textContent = result.ok ? (result.diagnostics.length ? `ok, ${result.diagnostics.length} warning(s)` : 'ok') : `${errors} error(s)`;
    status.dataset.ok = String(result.ok);
  };
  const form = h('form', { class: 'panel' }, h('div', { class: 'row' }, h('h1', {}, 'New job'), name, button, status), editor.el);
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void (async () => {
      button.disabled = true;
      try {
        const { submitJob } = await gql<{ submitJob: { job: { id: string } | null; diagnostics: Diagnostic[] } }>(SUBMIT, { source: editor.value, name: name.value || null });
        if (submitJob.job) return navigate(`/jobs/${submitJob.job.id}`);
        editor.setDiagnostics(submitJob.diagnostics);
        status.textContent = 'refused: see below';
      } finally {
        button.disabled = false;
      }
    })();
  });
  fill(root, form);
  void check();
  editor.textarea.focus();
  return () => clearTimeout(timer);
}
