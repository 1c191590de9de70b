import { describe, expect, it } from 'vitest';
import { clockOffset, parseCloudInitFinished } from '../../bench/cloud-init-time.ts';

const LINE = 'Cloud-init v. 22.4.2 finished at Mon, 30 Nov 2026 23:12:34 +0000. Datasource DataSourceNoCloud [seed=/dev/vdb][dsmode=net].  Up 45.67 seconds';

describe('parseCloudInitFinished', () => {
  it('reads version, timestamp, datasource and uptime from the line on a real console', () => {
    const text = `[   40.1] random: crng init done\r\n${LINE}\r\n\r\nDebian GNU/Linux 12 g ttyS0\r\n`;
    expect(parseCloudInitFinished(text)).toEqual({
      version: '22.4.2',
      atMs: Date.UTC(2026, 10, 30, 23, 12, 34),
      uptimeS: 45.67,
      datasource: 'DataSourceNoCloud [seed=/dev/vdb][dsmode=net]',
    });
  });

  it('takes the line as printed through the journal, and a non-UTC offset', () => {
    const text = '[   51.234567] cloud-init[612]: Cloud-init v. 23.1 finished at Tue, 01 Dec 2026 01:00:05 +0100. Datasource DataSourceNone.  Up 7 seconds\n';
    const r = parseCloudInitFinished(text);
    expect(r?.atMs).toBe(Date.UTC(2026, 11, 1, 0, 0, 5));
    expect(r?.uptimeS).toBe(7);
    expect(r?.datasource).toBe('DataSourceNone');
  });

  it("answers the last boot's line when the guest rebooted", () => {
    const second = LINE.replace('23:12:34', '23:20:01').replace('45.67', '30.10');
    expect(parseCloudInitFinished(`${LINE}\n...reboot...\n${second}\n`)?.atMs).toBe(Date.UTC(2026, 10, 30, 23, 20, 1));
  });

  it('is null before cloud-init finished, and for a line cut off mid-way', () => {
    expect(parseCloudInitFinished("Cloud-init v. 22.4.2 running 'modules:final' at Mon, 30 Nov 2026 23:12:30 +0000. Up 41.2 seconds.\n")).toBeNull();
    expect(parseCloudInitFinished(LINE.slice(0, 60))).toBeNull();
  });
});

describe('clockOffset', () => {
  it('uses the sample with the shortest round trip, taking its middle', () => {
    const r = clockOffset([
      { hostBeforeMs: 1000, hostAfterMs: 1200, guestMs: 500 },
      { hostBeforeMs: 2000, hostAfterMs: 2040, guestMs: 1420 },
      { hostBeforeMs: 3000, hostAfterMs: 3090, guestMs: 2400 },
    ]);
    expect(r).toEqual({ offsetMs: 1420 - 2020, uncertaintyMs: 20 });
  });

  it('refuses no samples and a sample that ends before it starts', () => {
    expect(() => clockOffset([])).toThrow(/no clock samples/);
    expect(() => clockOffset([{ hostBeforeMs: 10, hostAfterMs: 5, guestMs: 0 }])).toThrow(/ends before/);
  });
});
