/**
 * What every page gets: where to draw, the route (with its filter), who is signed in, and a
 * place to register what must stop when the page is left (polling timers).
 */
import type { Route } from './router.js';
import type { WhoAmI } from './views.js';

export interface PageContext {
  main: HTMLElement;
  route: Route;
  me: WhoAmI;
  onLeave(stop: () => void): void;
  /** false once the user went to another view: late answers must not draw. */
  current(): boolean;
}

export type Page = (context: PageContext) => Promise<void> | void;
