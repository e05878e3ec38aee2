/** The dashboard's entry: a history-API router over three views and the connection indicator. */
import { dropConnection, onConnection } from './client.ts';
import { jobView } from './views/job.ts';
import { jobsView } from './views/jobs.ts';
import { submitView } from './views/submit.ts';
import './style.css';

const app = document.getElementById('app')!;
const conn = document.getElementById('conn')!;
let leave: () => void = () => {};

function route(): void {
  leave();
  for (const key of Object.keys(app.dataset)) delete app.dataset[key];
  const { pathname, search } = location;
  const jobMatch = /^\/jobs\/([^/]+)$/.exec(pathname);
  if (jobMatch) leave = jobView(app, decodeURIComponent(jobMatch[1]!));
  else if (pathname === '/submit') leave = submitView(app, navigate);
  else leave = jobsView(app, new URLSearchParams(search));
}

function navigate(path: string): void {
  history.pushState(null, '', path);
  route();
}

// Same-origin links marked data-link change the view without a page load.
document.addEventListener('click', (e) => {
  const a = (e.target as Element).closest('a[data-link]');
  if (!a || e.defaultPrevented || e.button !== 0 || e.metaKey || e.ctrlKey || e.shiftKey) return;
  e.preventDefault();
  navigate(a.getAttribute('href')!);
});
addEventListener('popstate', route);
onConnection((state) => {
  conn.dataset.state = state;
  conn.textContent = { connecting: 'connecting…', live: '● live', reconnecting: 'reconnecting…', idle: '' }[state];
});
// For the browser tests: drop the websocket to check that the page reconnects without losing events.
Object.assign(window, { tlDropConnection: dropConnection });
route();
