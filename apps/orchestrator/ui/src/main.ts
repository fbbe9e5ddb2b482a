/**
 * The admin UI's entry point: the shell (skip link, navigation, who is signed in, sign out) and
 * the router that draws one page into <main> per hash route.
 *
 * Guarantees: without a token only the login page is drawn; /auth/me decides which navigation
 * entries and actions are shown (the API enforces the same roles anyway); leaving a page stops
 * its timers; after each navigation (not the first load) focus moves to the page's heading, for
 * keyboard and screen reader users.
 */
import { ApiError, get } from './api.js';
import { fill, h, notice } from './dom.js';
import type { Page, PageContext } from './page.js';
import { deadLetterPage, deadLettersPage } from './pages/dead-letters.js';
import { definitionsPage } from './pages/definitions.js';
import { loginPage } from './pages/login.js';
import { overviewPage } from './pages/overview.js';
import { sagaListPage } from './pages/saga-list.js';
import { sagaPage } from './pages/saga-page.js';
import { currentRoute, go, href } from './router.js';
import { signOut, token } from './session.js';
import type { WhoAmI } from './views.js';

const main = document.getElementById('main') as HTMLElement;
const nav = document.getElementById('nav') as HTMLElement;
const who = document.getElementById('who') as HTMLElement;
let me: WhoAmI | null = null;
let leaving: (() => void)[] = [];
let generation = 0;

function pageFor(path: string[], may: WhoAmI['may']): { page: Page; section: string } {
  const [first, second] = path;
  if (first === 'sagas' && second) return { page: sagaPage, section: may.read ? 'sagas' : 'overview' };
  if (first === 'sagas') return { page: sagaListPage, section: 'sagas' };
  if (first === 'dead-letters' && second) return { page: deadLetterPage, section: 'dead-letters' };
  if (first === 'dead-letters') return { page: deadLettersPage, section: 'dead-letters' };
  if (first === 'definitions') return { page: definitionsPage, section: 'definitions' };
  return { page: overviewPage, section: 'overview' };
}

function drawShell(section: string): void {
  if (!me) {
    fill(nav);
    fill(who);
    return;
  }
  const entries: [string, string, boolean][] = [
    ['overview', 'Overview', true],
    ['sagas', 'Sagas', me.may.read],
    ['dead-letters', 'Dead letters', me.may.deadLetters],
    ['definitions', 'Definitions', true],
  ];
  fill(
    nav,
    h(
      'ul',
      null,
      entries
        .filter(([, , shown]) => shown)
        .map(([id, label]) => h('li', null, h('a', { href: href(id === 'overview' ? [] : [id]), 'aria-current': id === section ? 'page' : null }, label))),
    ),
  );
  fill(
    who,
    h('span', null, 'Signed in as ', h('strong', null, me.name), ` (${me.role})`),
    ' ',
    h('button', { type: 'button', id: 'sign-out', onclick: () => (signOut('Signed out.'), (me = null), go('#/login')) }, 'Sign out'),
  );
}

async function render(): Promise<void> {
  for (const stop of leaving) stop();
  leaving = [];
  const mine = ++generation;
  const route = currentRoute();
  if (!token() || route.path[0] === 'login') {
    me = null;
    drawShell('');
    await loginPage(main, () => go('#/'));
    focusHeading();
    return;
  }
  if (!me) {
    try {
      me = await get<WhoAmI>('/auth/me');
    } catch (error) {
      if (error instanceof ApiError && error.status === 401) return; // the client went to the login page
      fill(main, h('h1', { tabindex: -1 }, 'Cannot reach the orchestrator'), notice('error', String(error)));
      return;
    }
  }
  const { page, section } = pageFor(route.path, me.may);
  drawShell(section);
  const context: PageContext = { main, route, me, onLeave: (stop) => leaving.push(stop), current: () => mine === generation };
  fill(main, h('p', { class: 'loading', role: 'status' }, 'Loading…'));
  try {
    await page(context);
  } catch (error) {
    if (!context.current()) return;
    if (error instanceof ApiError && error.status === 401) return;
    fill(main, h('h1', { tabindex: -1 }, 'Something went wrong'), notice('error', error instanceof Error ? error.message : String(error)));
  }
  if (context.current()) focusHeading();
}

/** After a navigation (not on the first load, where Tab should reach the skip link first). */
let navigated = false;
function focusHeading(): void {
  if (!navigated) {
    navigated = true;
    return;
  }
  const heading = main.querySelector<HTMLElement>('h1');
  if (!heading) return;
  heading.tabIndex = -1;
  heading.focus({ preventScroll: false });
}

// The skip link jumps to the content without touching the hash (the hash is the route).
document.querySelector('a.skip')?.addEventListener('click', (event) => {
  event.preventDefault();
  main.focus();
});
window.addEventListener('hashchange', () => void render());
void render();
