/**
 * Blazar's dates. Requests take `YYYY-MM-DD HH:MM` in UTC (or `now` for a start); responses carry
 * ISO-like `YYYY-MM-DDTHH:MM:SS.ffffff` without a zone, also UTC. Everything here is pure.
 */

const REQUEST_DATE = /^(\d{4})-(\d{2})-(\d{2}) (\d{2}):(\d{2})$/;
const RESPONSE_DATE = /^(\d{4})-(\d{2})-(\d{2})[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?Z?$/;

/** True when `text` is a real UTC date in Blazar's request format. */
export function isBlazarDate(text: unknown): text is string {
  if (typeof text !== "string" || !REQUEST_DATE.test(text)) return false;
  const d = parseBlazarDate(text);
  return formatBlazarDate(d) === text;
}

/** Parses a request or response date (always UTC). Throws on anything else. */
export function parseBlazarDate(text: string): Date {
  const m = RESPONSE_DATE.exec(text.trim());
  if (!m) throw new Error(`not a Blazar date: ${JSON.stringify(text)} (expected YYYY-MM-DD HH:MM, UTC)`);
  const [, y, mo, d, h, mi, s] = m;
  const date = new Date(Date.UTC(+y, +mo - 1, +d, +h, +mi, s ? +s : 0));
  if (Number.isNaN(date.getTime())) throw new Error(`not a Blazar date: ${JSON.stringify(text)}`);
  return date;
}

/** `YYYY-MM-DD HH:MM`, UTC, seconds dropped (Blazar works in whole minutes). */
export function formatBlazarDate(date: Date): string {
  return date.toISOString().slice(0, 16).replace("T", " ");
}

/** A response date (`2027-01-05T14:00:00.000000`) in request form (`2027-01-05 14:00`). */
export function normalizeBlazarDate(text: string): string {
  return formatBlazarDate(parseBlazarDate(text));
}

export function addHours(text: string, hours: number): string {
  return formatBlazarDate(new Date(parseBlazarDate(text).getTime() + hours * 3600_000));
}

/** Hours from `from` to `to`, fractional, negative when `to` is earlier. */
export function hoursBetween(from: string, to: string): number {
  return (parseBlazarDate(to).getTime() - parseBlazarDate(from).getTime()) / 3600_000;
}
