/**
 * Billing cycles run monthly from the workspace's anchor day, clamped to the month's end
 * (an anchor of 31 falls on Feb 28/29, Apr 30, …). All dates are UTC midnights, in epoch ms.
 */
function daysInMonth(year: number, month: number): number {
  return new Date(Date.UTC(year, month + 1, 0)).getUTCDate();
}

/** The start of the cycle that begins in (year, month). */
function cycleStartIn(year: number, month: number, anchorDay: number): number {
  return Date.UTC(year, month, Math.min(anchorDay, daysInMonth(year, month)));
}

/** The cycle containing `now`: [start, end), and a key naming it (its start date). */
export function cycleAt(input: { anchorDay: number; now: number }): {
  start: number;
  end: number;
  key: string;
} {
  if (!Number.isInteger(input.anchorDay) || input.anchorDay < 1 || input.anchorDay > 31) {
    throw new Error(`anchor day must be 1..31, got ${input.anchorDay}`);
  }
  const d = new Date(input.now);
  let y = d.getUTCFullYear();
  let m = d.getUTCMonth();
  let start = cycleStartIn(y, m, input.anchorDay);
  if (start > input.now) {
    m -= 1;
    if (m < 0) {
      m = 11;
      y -= 1;
    }
    start = cycleStartIn(y, m, input.anchorDay);
  }
  const ny = m === 11 ? y + 1 : y;
  const nm = m === 11 ? 0 : m + 1;
  const end = cycleStartIn(ny, nm, input.anchorDay);
  return { start, end, key: new Date(start).toISOString().slice(0, 10) };
}
