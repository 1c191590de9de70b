/**
 * When did cloud-init finish in a guest, on the host's clock? Pure helpers of the guest-ready row
 * (bench/rows/guest-ready.ts): cloud-init's own "finished" line on the serial console (1 s resolution,
 * the guest's clock), and the guest clock's offset from the host's, measured through the guest agent,
 * to turn finer guest timestamps (file modification times in nanoseconds) into host time.
 */

export interface CloudInitFinished {
  version: string;
  /** Its timestamp, ms since the epoch on the guest's clock; whole seconds (cloud-init prints no fraction). */
  atMs: number;
  /** The guest's uptime when it printed the line, in seconds (two decimals). */
  uptimeS: number;
  datasource: string;
}

// cloud-init's final_message module (default template):
// "Cloud-init v. {{version}} finished at {{timestamp}}. Datasource {{datasource}}.  Up {{uptime}} seconds"
// with the timestamp in RFC 2822 form ("Mon, 30 Nov 2026 23:12:34 +0000"). The datasource holds spaces
// and brackets ("DataSourceNoCloud [seed=/dev/vdb][dsmode=net]"); the console may add a prefix and \r.
const FINISHED_RE =
  /Cloud-init v\. (\S+) finished at ([A-Z][a-z]{2}, \d{1,2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} [+-]\d{4})\. Datasource (.*?)\.\s+Up (\d+(?:\.\d+)?) seconds/g;

/** The last "finished" line of a console log (a guest that rebooted prints one per boot), or null. */
export function parseCloudInitFinished(consoleText: string): CloudInitFinished | null {
  let last: RegExpExecArray | null = null;
  for (const m of consoleText.matchAll(FINISHED_RE)) last = m;
  if (!last) return null;
  const atMs = Date.parse(last[2] as string);
  if (Number.isNaN(atMs)) return null;
  return { version: last[1] as string, atMs, uptimeS: Number(last[4]), datasource: last[3] as string };
}

/** One reading of the guest's clock (guest-get-time), bracketed by the host's clock around the call. */
export interface ClockSample {
  hostBeforeMs: number;
  hostAfterMs: number;
  guestMs: number;
}

/**
 * Guest clock minus host clock, in ms, from the sample with the shortest round trip (the guest read its
 * clock somewhere inside it: taken as the middle, so the error is at most half that round trip).
 */
export function clockOffset(samples: readonly ClockSample[]): { offsetMs: number; uncertaintyMs: number } {
  if (samples.length === 0) throw new Error('no clock samples');
  const best = samples.reduce((a, b) => (b.hostAfterMs - b.hostBeforeMs < a.hostAfterMs - a.hostBeforeMs ? b : a));
  const rtt = best.hostAfterMs - best.hostBeforeMs;
  if (rtt < 0) throw new Error('a clock sample ends before it starts');
  return { offsetMs: best.guestMs - (best.hostBeforeMs + rtt / 2), uncertaintyMs: rtt / 2 };
}
