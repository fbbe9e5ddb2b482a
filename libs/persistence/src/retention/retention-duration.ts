/**
 * Reads a retention setting (RETENTION_FINISHED_SAGAS, RETENTION_PROCESSED_COMMANDS): a number of
 * milliseconds, an ISO-8601 duration of days, hours, minutes and seconds (`P30D`, `PT12H`,
 * `P1DT6H`), or `0`/`off` to disable pruning.
 *
 * Guarantees: pure; returns the window in ms, `null` for "disabled", or throws
 * RetentionSettingError naming the setting and the accepted forms. Months and years are refused
 * (their length is not fixed); a window below `minimumMs` is refused with the minimum stated.
 */
export class RetentionSettingError extends Error {
  readonly code = 'INVALID_RETENTION_SETTING';
}

const ISO = /^P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?$/i;
const UNIT_MS = [7 * 86_400_000, 86_400_000, 3_600_000, 60_000, 1000];

export const DAY_MS = 86_400_000;

export function parseRetention(name: string, value: string | undefined, defaultMs: number, minimumMs = 0): number | null {
  const text = value?.trim() ?? '';
  if (text === '') return checkMinimum(name, defaultMs, minimumMs);
  if (text === '0' || text.toLowerCase() === 'off') return null;
  let ms: number | undefined;
  if (/^\d+$/.test(text)) ms = Number(text);
  else {
    const match = ISO.exec(text);
    if (match && text.toUpperCase() !== 'P' && !text.toUpperCase().endsWith('T')) {
      ms = match.slice(1).reduce((sum, part, index) => sum + (part === undefined ? 0 : Number(part) * UNIT_MS[index]), 0);
    }
  }
  if (ms === undefined || !Number.isSafeInteger(Math.round(ms)) || ms <= 0) {
    throw new RetentionSettingError(`${name}: "${text}" is not a retention: give milliseconds, an ISO-8601 duration (P30D, PT12H, P1DT6H) or 0/off`);
  }
  return checkMinimum(name, Math.round(ms), minimumMs);
}

function checkMinimum(name: string, ms: number, minimumMs: number): number {
  if (ms < minimumMs)
    throw new RetentionSettingError(`${name}: ${ms} ms is shorter than the minimum of ${minimumMs} ms (${describe(minimumMs)}); see docs/operations.md "Retention"`);
  return ms;
}

export function describe(ms: number): string {
  if (ms % DAY_MS === 0) return `${ms / DAY_MS} d`;
  if (ms % 3_600_000 === 0) return `${ms / 3_600_000} h`;
  return `${ms} ms`;
}
