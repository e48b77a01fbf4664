// Conveyor's dashboard page: plain TypeScript and the DOM, compiled by tsc into ES modules.
// It asks for the token (kept in sessionStorage, so it ends with the tab), sends it with every
// API call, and routes on the URL's hash. Text is always set as text, never as HTML.
// A view is a function of (mine, path parts, query) in the table below.
import { failed, login, router, state, TOKEN_KEY } from './core.js';
import { deadLettersView } from './view-dead-letters.js';
import { jobView } from './view-job.js';
import { jobsView } from './view-jobs.js';
import { outboxView } from './view-outbox.js';
import { overviewView } from './view-overview.js';
import { tasksView, taskView } from './view-tasks.js';
import { schedulesView } from './view-schedules.js';
import { workflowsView } from './view-workflows.js';
import { tenantsView } from './view-tenants.js';
import { workersView } from './view-workers.js';

type View = (mine: number, parts: string[], params: URLSearchParams) => Promise<void>;

// First path part → view; '' is the overview.
const VIEWS: Record<string, View> = {
  '': (mine) => overviewView(mine),
  jobs: (mine, _parts, params) => jobsView(mine, params),
  job: (mine, parts) =>
    parts.length === 3 ? jobView(mine, parts[1], parts[2]) : overviewView(mine),
  'dead-letters': (mine, parts, params) => deadLettersView(mine, parts[1], params),
  tenants: (mine, parts, params) => tenantsView(mine, parts[1], params),
  outbox: (mine) => outboxView(mine),
  workers: (mine) => workersView(mine),
  tasks: (mine, parts, params) => tasksView(mine, parts[1], params),
  task: (mine, parts, params) =>
    parts.length === 3
      ? taskView(mine, parts[1], parts[2], params)
      : tasksView(mine, undefined, params),
  schedules: (mine) => schedulesView(mine),
  workflows: (mine, parts, params) => workflowsView(mine, parts, params),
};

async function route(): Promise<void> {
  window.clearTimeout(state.timer);
  const mine = ++state.view;
  const [path, search = ''] = location.hash.replace(/^#/, '').split('?');
  const parts = path.split('/').filter(Boolean).map(decodeURIComponent);
  const params = new URLSearchParams(search);
  for (const link of document.querySelectorAll('#nav a')) {
    link.classList.toggle('active', link.getAttribute('href') === `#/${parts[0] ?? ''}`);
  }
  try {
    await (VIEWS[parts[0] ?? ''] ?? VIEWS[''])(mine, parts, params);
  } catch (error) {
    failed(error);
  }
}
router.route = route;

document.getElementById('logout')!.addEventListener('click', () => {
  sessionStorage.removeItem(TOKEN_KEY);
  state.queues = [];
  login('Signed out.');
});
window.addEventListener('hashchange', () => void route());
void route();
