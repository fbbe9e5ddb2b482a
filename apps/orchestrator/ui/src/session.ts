/**
 * The bearer token of this tab. Kept in sessionStorage, not localStorage: it lives as long as
 * the tab and is gone when the tab closes, so a token pasted on a shared screen does not stay
 * behind for the next person; other tabs do not see it. Signing out removes it.
 */
const KEY = 'saga-ui-token';
let flash: string | null = null;

export function token(): string | null {
  return sessionStorage.getItem(KEY);
}

export function signIn(value: string): void {
  sessionStorage.setItem(KEY, value);
}

export function signOut(message: string | null = null): void {
  sessionStorage.removeItem(KEY);
  flash = message;
}

/** The message the login page shows once (why the session ended). */
export function takeFlash(): string | null {
  const message = flash;
  flash = null;
  return message;
}
