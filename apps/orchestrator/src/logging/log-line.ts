/**
 * Log lines with fields: `logLine('saga is stuck', { sagaId, step })` is one JSON object per line
 * when LOG_FORMAT=json (fields searchable by a log pipeline: sagaId, step, requestId, actor…),
 * and `saga is stuck (sagaId=…, step=…)` in text. Fields are what the caller names, never a
 * request's body, a saga's input or a token.
 */
export type LogFormat = 'text' | 'json';

let format: LogFormat = 'text';

export function setLogFormat(next: LogFormat): void {
  format = next;
}

export function logFormat(): LogFormat {
  return format;
}

/** What to hand to a Nest logger: an object in JSON, a string with the fields in text. */
export function logLine(message: string, fields: Record<string, string | number | boolean | null | undefined>): string | Record<string, unknown> {
  const present = Object.entries(fields).filter(([, value]) => value !== undefined);
  if (format === 'json') return { msg: message, ...Object.fromEntries(present) };
  return present.length === 0 ? message : `${message} (${present.map(([key, value]) => `${key}=${String(value)}`).join(', ')})`;
}
