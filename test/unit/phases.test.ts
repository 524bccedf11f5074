/** Time per deploy phase from the library's events: build ends at the first pushed layer, push at the task's end. */
import { describe, expect, it } from 'vitest';
import { PhaseClock } from '../../src/cli/phases.js';
import type { PatchworkEvent } from '../../src/lib/events.js';

const at = (s: number) => new Date(Date.UTC(2026, 0, 1) + s * 1000).toISOString();
const task = (s: number, id: string, status: 'start' | 'done' | 'skip' | 'fail'): PatchworkEvent => ({
  type: 'task',
  id,
  title: id,
  status,
  time: at(s),
});
const layer = (s: number): PatchworkEvent =>
  ({ type: 'data', kind: 'push.layer', data: {}, time: at(s) }) as unknown as PatchworkEvent;

describe('PhaseClock', () => {
  it('splits build and push at the first pushed layer, and times register, rollout and smoke', () => {
    const c = new PhaseClock();
    for (const e of [
      task(0, 'build:web', 'start'),
      layer(6),
      layer(7),
      task(8.5, 'build:web', 'done'),
      task(8.6, 'register:web', 'start'),
      task(8.8, 'register:web', 'done'),
      task(9, 'update:web', 'start'),
      task(9.1, 'update:web', 'done'),
      { type: 'log', level: 'info', message: 'web: running 1/1', time: at(20) } as PatchworkEvent,
      task(21, 'smoke', 'start'),
      task(21.5, 'smoke', 'fail'),
    ])
      c.event(e);
    expect(c.seconds()).toEqual({ build: 6, push: 2.5, register: 0.2, rollout: 12, smoke: 0.5 });
    expect(c.describe(11)).toBe('build 6s, push 2.5s, register 0.2s, rollout 11s, smoke 0.5s');
  });
  it('says when every image was already pushed', () => {
    const c = new PhaseClock();
    c.event(task(0, 'build:web', 'start'));
    c.event(task(0.3, 'build:web', 'skip'));
    expect(c.seconds().build).toBeUndefined();
    expect(c.describe()).toBe('build skipped (already pushed)');
  });
});
