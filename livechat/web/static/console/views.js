// views.js: the console's views: the desk (every agent), the history of
// closed chats (every agent) and the wall (supervisors).
import { $ } from './dom.js';
import { S, isSupervisor } from './state.js';
import { loadWall, renderWall } from './wall.js';
import { renderAlerts } from './escalations.js';
import { renderPresenceBanner } from './status.js';
import { render } from './desk.js';
import { showHistory } from './history.js';
import { showSatisfaction } from './satisfaction.js';

const VIEWS = ['desk', 'wall', 'history'];
const viewID = (v) => (v === 'history' ? 'history-view' : v);

export function renderViews() {
  $('views').hidden = false;
  $('view-wall').hidden = !isSupervisor();
  if (!isSupervisor() && S.view === 'wall') showView('desk');
  renderAlerts();
}

export function showView(v) {
  if (!VIEWS.includes(v) || (v === 'wall' && !isSupervisor())) v = 'desk';
  S.view = v;
  if (v !== 'wall') S.wallFocus = S.wallScrolled = '';
  for (const name of VIEWS) $(viewID(name)).hidden = v !== name;
  document.querySelectorAll('#views .view').forEach((b) => {
    b.classList.toggle('current', b.dataset.view === v);
    b.setAttribute('aria-pressed', String(b.dataset.view === v));
  });
  clearInterval(S.wallTimer);
  S.wallTimer = 0;
  if (v === 'wall') {
    loadWall();
    S.wallTimer = setInterval(loadWall, 2000);
    renderWall();
    showSatisfaction();
  } else if (v === 'history') {
    showHistory();
  } else {
    render();
  }
  renderPresenceBanner();
}

// select opens a chat of the desk.
export function select(id) {
  S.current = id;
  S.closeArmed = 0;
  if (S.view !== 'desk') showView('desk');
  render();
  $('reply').focus();
}
