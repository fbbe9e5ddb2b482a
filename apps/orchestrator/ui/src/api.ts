/**
 * The API client: every call carries this tab's bearer token; JSON in, JSON out.
 *
 * Guarantees: an answer outside 2xx throws ApiError with the status and the API's error body
 * (400 field errors, 409 reasons); a 401 anywhere also ends the session and sends the page to
 * the login form with a message. Only same-origin relative URLs are called.
 */
import { signOut, token } from './session.js';
import type { ErrorBody } from './views.js';

export class ApiError extends Error {
  readonly code = 'API_ERROR';
  constructor(
    readonly status: number,
    readonly body: ErrorBody,
  ) {
    super(ApiError.describe(status, body));
  }

  static describe(status: number, body: ErrorBody): string {
    const message = Array.isArray(body.message) ? body.message.join('; ') : body.message;
    return `${status} ${body.error ?? ''}: ${body.reason ?? message ?? 'no details'}`.replace(/ +:/, ':');
  }
}

export interface CallOptions {
  body?: unknown;
  headers?: Record<string, string>;
}

/** GET/POST `path` (e.g. `/sagas?status=RUNNING`); the parsed JSON answer, with its status. */
export async function call<T>(method: 'GET' | 'POST', path: string, options: CallOptions = {}): Promise<{ status: number; body: T }> {
  const headers: Record<string, string> = { Accept: 'application/json', ...options.headers };
  const bearer = token();
  if (bearer) headers.Authorization = `Bearer ${bearer}`;
  if (options.body !== undefined) headers['Content-Type'] = 'application/json';
  const response = await fetch(path, { method, headers, body: options.body === undefined ? undefined : JSON.stringify(options.body), credentials: 'omit', cache: 'no-store' });
  const text = await response.text();
  let body: unknown = null;
  try {
    body = text === '' ? null : JSON.parse(text);
  } catch {
    body = { message: text.slice(0, 200) };
  }
  if (response.status === 401) {
    signOut('The orchestrator did not accept the token (401). Sign in again.');
    if (location.hash !== '#/login') location.hash = '#/login';
  }
  if (!response.ok) throw new ApiError(response.status, (body ?? {}) as ErrorBody);
  return { status: response.status, body: body as T };
}

export async function get<T>(path: string): Promise<T> {
  return (await call<T>('GET', path)).body;
}

/** `?a=1&b=2` from the set values of `params` ('' for none). */
export function queryString(params: URLSearchParams | Record<string, string | undefined>): string {
  const search = params instanceof URLSearchParams ? params : new URLSearchParams(Object.entries(params).filter((e): e is [string, string] => e[1] !== undefined && e[1] !== ''));
  const text = search.toString();
  return text ? `?${text}` : '';
}

export const enc = encodeURIComponent;
