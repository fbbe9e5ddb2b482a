/**
 * Sign in: paste a bearer token (a password field, never echoed), checked with GET /auth/me
 * before it is kept in this tab's sessionStorage (session.ts says why not localStorage).
 */
import { fill, h, notice } from '../dom.js';
import { signIn, takeFlash } from '../session.js';

export function loginPage(main: HTMLElement, onSignedIn: () => void): void {
  document.title = 'Sign in · Saga admin';
  const flash = takeFlash();
  const status = h('div', { id: 'login-status' }, flash ? notice('info', flash) : null);
  const input = h('input', { id: 'token', name: 'token', type: 'password', autocomplete: 'off', spellcheck: 'false', required: true, 'aria-describedby': 'token-help' });
  const form = h(
    'form',
    { class: 'login', onsubmit: (event: Event) => void submit(event) },
    h('p', null, h('label', { for: 'token' }, 'Bearer token'), input),
    h(
      'p',
      { id: 'token-help', class: 'help' },
      'The token of your role (AUTH_TOKENS). With ',
      h('code', null, 'npm start'),
      ' the demo tokens are in .saga-tokens.env. It is kept in this tab only and forgotten when the tab closes.',
    ),
    h('p', null, h('button', { type: 'submit' }, 'Sign in')),
  );
  async function submit(event: Event): Promise<void> {
    event.preventDefault();
    const value = input.value.trim();
    if (!value) return;
    try {
      // Checked before it is kept: fetch directly, as the client's 401 handling would reload this page.
      const response = await fetch('/auth/me', { headers: { Authorization: `Bearer ${value}`, Accept: 'application/json' }, credentials: 'omit', cache: 'no-store' });
      if (!response.ok) throw new Error(response.status === 401 ? 'This token is not one the orchestrator knows (401).' : `The orchestrator answered ${response.status}.`);
      signIn(value);
      onSignedIn();
    } catch (error) {
      fill(status, notice('error', error instanceof Error ? error.message : String(error)));
      input.focus();
    }
  }
  fill(main, h('h1', null, 'Sign in'), status, form);
}
