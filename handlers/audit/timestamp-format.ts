/**
 * Formats audit timestamps: `iso` (default), `epochMillis`, or a pattern of yyyy MM dd HH mm ss SSS and 'quoted'
 * literals in UTC, such as light-4j's "yyyy-MM-dd'T'HH:mm:ss.SSS'Z'".
 */
export function formatTimestamp(date: Date, format: string): string | number {
  if (format === 'iso') return date.toISOString();
  if (format === 'epochMillis') return date.getTime();
  const pad = (value: number, width = 2): string => String(value).padStart(width, '0');
  const tokens: Record<string, string> = {
    yyyy: String(date.getUTCFullYear()),
    MM: pad(date.getUTCMonth() + 1),
    dd: pad(date.getUTCDate()),
    HH: pad(date.getUTCHours()),
    mm: pad(date.getUTCMinutes()),
    ss: pad(date.getUTCSeconds()),
    SSS: pad(date.getUTCMilliseconds(), 3),
  };
  return format.replace(/'([^']*)'|yyyy|MM|dd|HH|mm|ss|SSS/g, (match, literal: string | undefined) => literal ?? tokens[match]!);
}
