/**
 * A job's page: status and controls, the plan's phase timeline, live curves, the confusion matrix
 * once it ends and a form to evaluate its model (for a learning-rate search, the loss by rate and the
 * rate it suggests; for an evaluation, what it measured), and the script. Follows `jobEvents` from the last seq it has, and `jobUpdates` for
 * the status; all drawing waits for the next animation frame.
 */
import { gql, live } from '../client.ts';
import { LiveChart } from '../charts.ts';
import { confusionMatrix } from '../confusion.ts';
import { fill, fmt, h } from '../dom.ts';
import { codeBlock } from '../highlight.ts';
import { JobRun } from '../job-run.ts';
import { evaluationPanel } from '../evaluation.ts';
import { CANCEL, EVALUATE, JOB, JOB_EVENTS, JOB_UPDATES, RESUME, WITH_RATE, type Diagnostic, type JobDetail, type JobEvent, type JobSummary, type LrFound } from '../queries.ts';
import { phaseTimeline } from '../timeline.ts';

const ACTIVE = new Set(['QUEUED', 'RUNNING']);
/** Warnings listed on the page; the rest are counted (a folder of corrupt images gives one each). */
const SHOWN_WARNINGS = 20;

export function jobView(root: HTMLElement, id: string): () => void {
  const stops: (() => void)[] = [];
  let disposed = false;
  void (async () => {
    const { job } = await gql<{ job: JobDetail | null }>(JOB, { id });
    if (disposed) return;
    if (!job) return fill(root, h('section', { class: 'panel' }, h('h1', {}, 'No such job'), h('p', {}, id)));
    stops.push(...show(root, job));
  })().catch((err: Error) => fill(root, h('p', { class: 'error' }, err.message)));
  return () => {
    disposed = true;
    stops.forEach((stop) => stop());
  };
}

function show(root: HTMLElement, initial: JobDetail): (() => void)[] {
  let job: JobSummary & Partial<JobDetail> = initial;
  const run = new JobRun(initial.plan);
  const adapt = initial.plan.adapt !== null;
  const lossChart = new LiveChart({
    title: 'Loss per epoch', xLabel: 'epoch',
    series: [{ label: 'train', stroke: '#2563eb' }, { label: 'validation', stroke: '#dc2626' }, ...(adapt ? [{ label: 'adaptation', stroke: '#7c3aed', dash: [4, 4] }] : [])],
  });
  const accChart = new LiveChart({
    title: 'Accuracy per epoch', xLabel: 'epoch', range: [0, 1],
    series: [{ label: 'train', stroke: '#2563eb' }, { label: 'validation', stroke: '#dc2626' }, ...(adapt ? [{ label: 'domain', stroke: '#7c3aed', dash: [4, 4] }] : [])],
  });
  const batchChart = new LiveChart({ title: 'Loss per batch (mean so far in the epoch)', xLabel: 'epoch', series: [{ label: 'train', stroke: '#0891b2' }] });
  // A search job, or a run with a phase whose rate is searched as it starts (lr auto): the loss by rate.
  const search = initial.kind === 'LR_FIND' || initial.plan.phases.some((p) => p.findLr === true);
  const lrChart = search ? new LiveChart({ title: 'Loss by learning rate', xLabel: 'learning rate', logX: true, series: [{ label: 'smoothed', stroke: '#dc2626' }, { label: 'loss', stroke: '#94a3b8' }] }) : null;
  const found = h('div');
  // An evaluation trains nothing: no timeline or curves, what it scores and then what it measured.
  const evaluating = initial.kind === 'EVALUATE';

  const title = h('h1', {});
  const status = h('div', { class: 'status-line' });
  const controls = h('div', { class: 'row' });
  const messages = h('div', { class: 'messages' });
  const timeline = h('div');
  const end = h('div');
  const scoring = evaluating && h('p', { id: 'evaluates' },
    'Scores the model of job ', h('a', { href: `/jobs/${initial.evaluates?.id ?? ''}`, 'data-link': true }, initial.evaluates?.name ?? initial.evaluates?.id.slice(0, 8) ?? '(gone)'),
    ' on ', h('code', {}, initial.evaluationData ?? ''), '.');
  const evaluate = h('div');
  fill(
    root,
    h('section', { class: 'panel' }, h('div', { class: 'row' }, title, controls), status, scoring, messages),
    !evaluating && timeline,
    lrChart && h('section', { class: 'panel charts', id: 'lr-search' }, lrChart.el, found),
    !evaluating && h('section', { class: 'panel charts' }, lossChart.el, accChart.el, batchChart.el),
    end,
    evaluate,
    h('section', { class: 'panel' }, h('h2', {}, evaluating ? "The model's script" : 'Script'), codeBlock(initial.source, initial.error?.line)),
  );

  let frame = 0;
  let drawnPhase: number | null | undefined;
  const render = () => {
    frame = 0;
    title.textContent = job.name ?? job.id;
    const phase = run.phase ?? job.phase;
    const where = phase === null ? '' : `phase ${phase + 1}/${initial.plan.phases.length} ${run.phaseName ?? job.phaseName ?? ''} · epoch ${run.epoch || job.epoch || 0}/${run.epochs || initial.plan.phases[phase]?.epochs || '?'}`;
    const searching = search && run.lrPoints.length > 0 && job.status === 'RUNNING';
    const batch = searching ? ` · lr search step ${run.lrPoints.length}/${run.lrSteps}` : job.status === 'RUNNING' && run.batches > 0 ? ` · batch ${run.batch}/${run.batches}` : '';
    fill(
      status,
      h('span', { class: `badge ${job.status.toLowerCase()}`, id: 'job-status' }, job.status.toLowerCase()),
      job.cancelRequested && job.status === 'RUNNING' ? ' cancelling after this batch' : '',
      ` ${where}${batch}`,
      job.status === 'RUNNING' ? ` · ETA ${fmt.eta(run.eta)}` : '',
      run.lr !== null ? ` · lr ${fmt.lr(run.lr)}` : '',
      run.backend ? ` · ${run.backend}` : '',
    );
    fill(
      controls,
      ACTIVE.has(job.status) && h('button', { type: 'button', id: 'cancel', disabled: job.cancelRequested, onclick: () => void act(CANCEL, 'cancelJob') }, 'Cancel'),
      (job.status === 'FAILED' || job.status === 'CANCELLED') && h('button', { type: 'button', id: 'resume', onclick: () => void act(RESUME, 'resumeJob') }, 'Resume'),
    );
    if (drawnPhase !== phase) {
      drawnPhase = phase;
      fill(timeline, phaseTimeline(initial.plan, phase));
    }
    const result = run.finished ?? job.result ?? null;
    const failed = ACTIVE.has(job.status) ? null : run.failed ?? (job.error ? { ...job.error, cancelled: job.status === 'CANCELLED' } : null);
    const warnings = [...run.warnings];
    fill(
      end,
      warnings.length > 0 && h('section', { class: 'panel warnings', id: 'warnings' },
        h('b', {}, warnings.length === 1 ? '1 warning' : `${warnings.length} warnings`),
        h('ul', {}, ...warnings.slice(0, SHOWN_WARNINGS).map((w) => h('li', {}, w))),
        warnings.length > SHOWN_WARNINGS ? h('p', {}, `and ${warnings.length - SHOWN_WARNINGS} more`) : ''),
      failed && h('section', { class: failed.cancelled ? 'panel' : 'panel error', id: 'failure' }, h('b', {}, failed.cancelled ? 'Cancelled' : `Failed: ${failed.code}`), ` ${failed.message}`, failed.line ? ` (line ${failed.line})` : ''),
      result && result.confusion.length > 0 && confusionMatrix(result),
      (run.evaluation ?? job.evaluation) && evaluationPanel((run.evaluation ?? job.evaluation)!),
    );
    // A model to score once a training job has exported one.
    if (job.status === 'SUCCEEDED' && (job.exportPath ?? initial.exportPath) && evaluate.childElementCount === 0) fill(evaluate, evaluateForm(job.id));
    lossChart.set(run.epochColumns(adapt ? ['loss', 'valLoss', 'adaptLoss'] : ['loss', 'valLoss']));
    accChart.set(run.epochColumns(adapt ? ['accuracy', 'valAccuracy', 'domainAccuracy'] : ['accuracy', 'valAccuracy']));
    batchChart.set([run.batchLoss.x, run.batchLoss.y]);
    if (lrChart) {
      const points = run.lrPoints.length > 0 ? run.lrPoints : (job.lrFound?.points ?? []);
      lrChart.set([points.map((p) => p.lr), points.map((p) => p.smoothed), points.map((p) => p.loss)]);
      const result = run.lrFound ?? job.lrFound ?? null;
      fill(found, result && lrSuggestion(result, initial.source));
    }
    Object.assign(root.dataset, { lastSeq: String(run.lastSeq), received: String(run.received), gaps: String(run.gaps) });
  };
  const schedule = () => {
    if (frame === 0) frame = requestAnimationFrame(render);
  };

  const act = async (mutation: string, field: 'cancelJob' | 'resumeJob') => {
    const data = await gql<Record<string, { job: JobSummary | null; diagnostics: Diagnostic[] }>>(mutation, { id: job.id });
    const payload = data[field]!;
    fill(messages, ...payload.diagnostics.map((d) => h('p', { class: 'error' }, `${d.code}: ${d.message}`)));
    if (payload.job) update(payload.job);
  };

  let following: (() => void) | null = null;
  const follow = () => {
    following = live<{ jobEvents: JobEvent }>({
      query: JOB_EVENTS,
      variables: () => ({ jobId: job.id, after: run.lastSeq }),
      next: ({ jobEvents }) => {
        if (run.apply(jobEvents)) schedule();
      },
      complete: () => {
        following = null;
        void gql<{ job: JobDetail | null }>(JOB, { id: job.id }).then(({ job: j }) => j && update(j));
      },
    });
  };
  const update = (j: JobSummary) => {
    job = { ...job, ...j };
    // A resumed job has new events after the ones we have.
    if (ACTIVE.has(j.status) && following === null) follow();
    schedule();
  };

  follow();
  const updates = live<{ jobUpdates: JobSummary }>({ query: JOB_UPDATES, variables: () => ({}), next: ({ jobUpdates }) => jobUpdates.id === job.id && update(jobUpdates) });
  render();
  return [
    () => following?.(),
    updates,
    () => cancelAnimationFrame(frame),
    () => [lossChart, accChart, batchChart].forEach((c) => c.destroy()),
  ];
}

/** Scores the job's exported model on labelled images under the data root (an EVALUATE job), then shows that job. */
function evaluateForm(jobId: string): HTMLElement {
  const data = h('input', { id: 'evaluate-data', placeholder: 'test images under the data root, e.g. fashion/test', size: 40 }) as HTMLInputElement;
  const error = h('div', { id: 'evaluate-error' });
  const start = async () => {
    const { evaluateJob: r } = await gql<{ evaluateJob: { job: { id: string } | null; diagnostics: Diagnostic[] } }>(EVALUATE, { job: jobId, data: data.value.trim() });
    fill(error, ...r.diagnostics.map((d) => h('p', { class: 'error' }, `${d.code}: ${d.message}`)));
    if (!r.job) return;
    history.pushState(null, '', `/jobs/${r.job.id}`);
    dispatchEvent(new PopStateEvent('popstate'));
  };
  return h(
    'section',
    { class: 'panel', id: 'evaluate' },
    h('h2', {}, 'Evaluate the model'),
    h('p', { class: 'muted' }, 'On labelled images it has not trained on: class folders, a path,label .csv manifest or an IDX file under the data root, as tl evaluate.'),
    h('form', { class: 'row', onsubmit: (ev: Event) => (ev.preventDefault(), void start()) }, data, h('button', { type: 'submit', id: 'evaluate-start' }, 'Evaluate')),
    error,
  );
}

/** What a search found, as `tl lr-find` says it: where the loss falls fastest, and the rate to write. */
function lrSuggestion(r: LrFound, source: string): HTMLElement {
  const from = r.after.length > 0 ? `from the weights ${r.after.join(', ')} left` : 'from the weights a run starts with';
  const error = h('span', { class: 'error' });
  // The script with the rate written in, to the editor (its draft), ready to submit.
  const use = async (lr: number) => {
    const { withLearningRate: edit } = await gql<{ withLearningRate: { source: string | null; error: string | null } }>(WITH_RATE, { source, phase: r.phase, lr });
    if (edit.source === null) return void (error.textContent = ` ${edit.error ?? 'the script could not be edited'}`);
    sessionStorage.setItem('tl.draft', edit.source);
    history.pushState(null, '', '/submit');
    dispatchEvent(new PopStateEvent('popstate'));
  };
  return h(
    'p',
    { id: 'lr-found', dataset: { suggested: String(r.suggested ?? '') } },
    r.suggested === null
      ? `Too few steps to suggest a rate for phase '${r.phase}'.`
      : `Suggested: lr ${fmt.lr(r.suggested)} in phase '${r.phase}' (${from}${r.steepest !== null ? '; where the loss falls fastest' : '; a tenth of where the loss is lowest'}).`,
    r.diverged ? ' The loss diverged before the last rate.' : '',
    r.suggested !== null && h('button', { type: 'button', id: 'use-lr', onclick: () => void use(r.suggested!) }, 'Use this rate in the script'),
    error,
  );
}
