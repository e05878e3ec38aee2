/** The job list: newest first, filtered by status, kept current by `jobUpdates`. */
import { gql, live } from '../client.ts';
import { fill, fmt, h } from '../dom.ts';
import { JOB_UPDATES, JOBS, STATUSES, type JobStatus, type JobSummary } from '../queries.ts';

interface JobsPage {
  jobs: { totalCount: number; pageInfo: { hasNextPage: boolean; endCursor: string | null }; edges: { node: JobSummary }[] };
}

function progress(j: JobSummary): string {
  if (j.status === 'QUEUED') return j.queuePosition ? `#${j.queuePosition} in queue` : 'queued';
  if (j.epoch === null) return j.status === 'RUNNING' ? 'starting' : '–';
  return `${j.phaseName ?? `phase ${(j.phase ?? 0) + 1}`} · epoch ${j.epoch}`;
}

function row(j: JobSummary): HTMLElement {
  return h(
    'tr',
    { dataset: { job: j.id, status: j.status } },
    h('td', {}, h('a', { href: `/jobs/${j.id}`, 'data-link': true }, j.name ?? j.id.slice(0, 8)), j.kind !== 'TRAIN' && h('span', { class: 'muted kind' }, j.kind === 'LR_FIND' ? ' lr search' : ' evaluation')),
    h('td', {}, h('span', { class: `badge ${j.status.toLowerCase()}` }, j.status.toLowerCase()), j.cancelRequested && j.status === 'RUNNING' ? ' cancelling' : ''),
    h('td', {}, progress(j)),
    // A run's accuracy; a search's suggested rate.
    h('td', {}, j.kind === 'LR_FIND' ? (j.suggestion?.suggested ? `lr ${fmt.lr(j.suggestion.suggested)}` : '–') : j.kind === 'EVALUATE' ? fmt.pct(j.scored?.accuracy) : fmt.pct(j.metrics?.valAccuracy ?? j.metrics?.accuracy)),
    h('td', { class: 'muted' }, fmt.time(j.createdAt)),
  );
}

export function jobsView(root: HTMLElement, params: URLSearchParams): () => void {
  const filter = (params.get('status') as JobStatus | null) ?? null;
  const jobs = new Map<string, JobSummary>();
  let total = 0;
  let cursor: string | null = null;
  const body = h('tbody');
  const count = h('span', { class: 'muted' });
  const more = h('button', { type: 'button', hidden: true, onclick: () => void load(true) }, 'Load more');
  const select = h('select', { name: 'status', 'aria-label': 'status filter' }, h('option', { value: '' }, 'all'), ...STATUSES.map((s) => h('option', { value: s }, s.toLowerCase())));
  select.value = filter ?? '';
  select.addEventListener('change', () => {
    const url = select.value ? `/?status=${select.value}` : '/';
    history.pushState(null, '', url);
    dispatchEvent(new PopStateEvent('popstate'));
  });

  const render = () => {
    const list = [...jobs.values()].sort((a, b) => b.createdAt.localeCompare(a.createdAt));
    fill(body, ...list.map(row));
    if (list.length === 0) body.append(h('tr', {}, h('td', { colspan: 5, class: 'muted' }, 'No jobs yet. ', h('a', { href: '/submit', 'data-link': true }, 'Submit one'), '.')));
    count.textContent = `${total} job${total === 1 ? '' : 's'}`;
  };
  const load = async (next = false) => {
    const data = await gql<JobsPage>(JOBS, { status: filter, after: next ? cursor : null });
    if (!next) jobs.clear();
    for (const e of data.jobs.edges) jobs.set(e.node.id, e.node);
    total = data.jobs.totalCount;
    cursor = data.jobs.pageInfo.endCursor;
    more.hidden = !data.jobs.pageInfo.hasNextPage;
    render();
  };

  fill(
    root,
    h('section', { class: 'panel' }, h('div', { class: 'row' }, h('h1', {}, 'Jobs'), select, count, h('a', { href: '/submit', 'data-link': true, class: 'button' }, 'New job')),
      h('table', { class: 'jobs' }, h('thead', {}, h('tr', {}, h('th', {}, 'job'), h('th', {}, 'status'), h('th', {}, 'progress'), h('th', {}, 'result'), h('th', {}, 'created'))), body),
      more),
  );
  void load();
  return live<{ jobUpdates: JobSummary }>({
    query: JOB_UPDATES,
    variables: () => ({}),
    next: ({ jobUpdates: j }) => {
      const known = jobs.has(j.id);
      if (filter === null || j.status === filter) {
        if (!known) total++;
        jobs.set(j.id, j);
      } else if (known) {
        jobs.delete(j.id);
        total--;
      }
      render();
    },
    // Updates sent while we were away are lost: read the list again.
    reconnected: () => void load(),
  });
}
