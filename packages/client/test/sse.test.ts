/** The SSE reader of job streams: the spec's field rules, with chunks split anywhere. */
import { describe, expect, it } from 'vitest';
import { readSse, SseParser } from '../src/sse.ts';

describe('SseParser', () => {
  it('reads events split across chunks at any point, with CRLF, comments, multi-line data and the default event', () => {
    const text = ': keep-alive\r\n\r\nevent: snapshot\r\nid: 0\r\ndata: {"a":1}\r\n\r\nevent:progress\ndata: line1\ndata:line2\n\ndata: plain\n\n';
    for (const size of [1, 2, 3, 7, text.length]) {
      const p = new SseParser();
      const out = [];
      for (let i = 0; i < text.length; i += size) out.push(...p.push(text.slice(i, i + size)));
      expect(out, `chunks of ${size}`).toEqual([
        { event: 'snapshot', data: '{"a":1}', id: '0' },
        { event: 'progress', data: 'line1\nline2', id: '0' },
        { event: 'message', data: 'plain', id: '0' },
      ]);
    }
  });

  it('drops an event whose blank line never came', async () => {
    const body = new Blob(['event: state\ndata: {"x":1}\n\nevent: state\ndata: {"x":2}']).stream();
    const events = [];
    for await (const e of readSse(body)) events.push(e.data);
    expect(events).toEqual(['{"x":1}']);
  });
});
