import { describe, expect, it } from 'vitest';
import { colourOf, logLineText } from '../../src/cli/format/logs.js';
import { parseStream, SeenWindow, toLine } from '../../src/lib/logs/index.js';

describe('logs', () => {
  it('parses awslogs stream names (prefix/container/task-id)', () => {
    expect(parseStream('web/web/0123abcd')).toEqual({ container: 'web', taskId: '0123abcd' });
    expect(parseStream('a/b/sidecar/ff00')).toEqual({ container: 'sidecar', taskId: 'ff00' });
    expect(parseStream('deadbeef')).toEqual({ container: '', taskId: 'deadbeef' });
  });

  it('turns events into lines with ISO time, task and container', () => {
    const line = toLine('web', { timestamp: 0, logStreamName: 'web/web/abc', message: 'hi\n', eventId: '7' });
    expect(line).toEqual({
      time: '1970-01-01T00:00:00.000Z',
      timestamp: 0,
      service: 'web',
      container: 'web',
      taskId: 'abc',
      message: 'hi',
      eventId: '7',
    });
    expect(logLineText(line, false)).toBe('1970-01-01T00:00:00.000Z web/abc web | hi');
    expect(logLineText(line, true)).toBe(`1970-01-01T00:00:00.000Z \x1b[${colourOf('abc')}mweb/abc web\x1b[0m | hi`);
  });

  it('remembers at most its window of event ids (bounded memory for --follow)', () => {
    const seen = new SeenWindow(3);
    expect(['a', 'b', 'c', 'a'].map((id) => seen.add(id))).toEqual([true, true, true, false]);
    expect(seen.add('d')).toBe(true);
    expect(seen.size).toBe(3);
    expect(seen.add('a')).toBe(true); // forgotten: the oldest left the window
    expect(seen.add('d')).toBe(false);
  });
});
