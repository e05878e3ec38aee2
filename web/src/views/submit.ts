/**
 * The submit page: edit a script, see the server's diagnostics as you type, submit it, or search a
 * phase's learning rate; or start from a data folder, as `tl init` does.
 */
import { gql } from '../client.ts';
import { h, fill } from '../dom.ts';
import { Editor } from '../editor.ts';
import { CHECK, FIND_LR, STARTER, SUBMIT, type Diagnostic } from '../queries.ts';

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
  // A learning-rate search of one phase (the first that trains, unless named), as `tl lr-find`.
  const phase = h('input', { name: 'phase', placeholder: 'phase (optional)', maxlength: 200, size: 14 });
  const findLr = h('button', { type: 'button', id: 'find-lr', title: "run the phase at rising rates and suggest one, as tl lr-find" }, 'Find learning rate');
  const editor = new Editor(sessionStorage.getItem('tl.draft') ?? EXAMPLE, () => {
    sessionStorage.setItem('tl.draft', editor.value);
    clearTimeout(timer);
    status.textContent = 'checking…';
    // Until the answer for this text comes, no earlier answer stands for it.
    delete status.dataset.ok;
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
  // A first script for a folder under the data root, as `tl init` writes it.
  const folder = h('input', { name: 'data', placeholder: 'data folder', maxlength: 4096, size: 18 });
  // The pretrained bases tl init offers (mobilenetv2's and inceptionv3's weights come with TL).
  const model = h('select', { name: 'starter-model', title: 'the pretrained base of the first script' }, ...['mobilenetv2', 'inceptionv3', 'resnet50', 'vgg16'].map((m) => h('option', { value: m }, m))) as HTMLSelectElement;
  const start = h('button', { type: 'button', id: 'starter', title: 'write a first script for a folder of images under the data root, as tl init' }, 'Start from data');
  const starterError = h('p', { class: 'error', id: 'starter-error', hidden: true });
  start.addEventListener('click', () => void (async () => {
    const data = folder.value.trim();
    if (!data) return folder.focus();
    const { starterScript: made } = await gql<{ starterScript: { source: string | null; error: string | null } }>(STARTER, { data, model: model.value });
    starterError.hidden = made.source !== null;
    starterError.textContent = made.error ?? '';
    // The draft is the user's work: replaced only when they say so.
    if (made.source === null || (editor.value.trim() && editor.value !== EXAMPLE && !confirm('Replace the script in the editor with a first script for this folder?'))) return;
    editor.value = made.source;
  })());
  const form = h(
    'form',
    { class: 'panel' },
    h('div', { class: 'row' }, h('h1', {}, 'New job'), name, button, phase, findLr, status),
    h('div', { class: 'row' }, folder, model, start),
    starterError,
    editor.el,
  );
  /** Sends the script; on to the job's page, or its diagnostics (and why it was refused) under the script. */
  const send = async (mutation: string, field: 'submitJob' | 'findLearningRate', variables: Record<string, unknown>) => {
    button.disabled = findLr.disabled = true;
    try {
      const data = await gql<Record<string, { job: { id: string } | null; diagnostics: Diagnostic[] }>>(mutation, { source: editor.value, name: name.value || null, ...variables });
      const payload = data[field]!;
      if (payload.job) return navigate(`/jobs/${payload.job.id}`);
      editor.setDiagnostics(payload.diagnostics);
      status.textContent = 'refused: see below';
    } finally {
      button.disabled = findLr.disabled = false;
    }
  };
  form.addEventListener('submit', (e) => {
    e.preventDefault();
    void send(SUBMIT, 'submitJob', {});
  });
  findLr.addEventListener('click', () => void send(FIND_LR, 'findLearningRate', { phase: phase.value.trim() || null }));
  fill(root, form);
  void check();
  editor.textarea.focus();
  return () => clearTimeout(timer);
}
