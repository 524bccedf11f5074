import { PassThrough } from 'node:stream';
import { describe, expect, it, vi } from 'vitest';
import { JsonRenderer, PlainRenderer, plainLine } from '../../src/cli/render.js';
import { Emitter, type PatchworkEvent } from '../../src/lib/events.js';
import { stripAnsi } from '../helpers/pty.js';

function collect(stream: PassThrough): () => string {
  let out = '';
  stream.on('data', (d) => {
    out += d;
  });
  return () => out;
}

describe('renderers read the same events', () => {
  it('plain lines', () => {
    expect(plainLine({ type: 'task', id: 'a', title: 'create cluster', status: 'done' })).toBe('✓ create cluster');
    expect(plainLine({ type: 'warning', code: 'PW_LOCK_TAKEN_OVER', message: 'taken over' })).toBe(
      '! PW_LOCK_TAKEN_OVER: taken over',
    );
    expect(plainLine({ type: 'log', level: 'debug', message: 'x' })).toBeUndefined();
    expect(plainLine({ type: 'log', level: 'debug', message: 'x' }, true)).toBe('  x');
    const plan = {
      env: { app: 'a', env: 'e', name: 'a-e', region: 'eu-west-1' },
      changes: [],
      summary: { create: 0, update: 0, replace: 0, delete: 0, noop: 0 },
      pending: false,
      warnings: [],
    };
    expect(plainLine({ type: 'data', kind: 'plan', data: plan })).toBeUndefined();
  });

  it('--json: NDJSON on stdout ending with a result, human lines on stderr', async () => {
    const out = new PassThrough();
    const err = new PassThrough();
    const o = collect(out);
    const e = collect(err);
    const r = new JsonRenderer(out, err);
    const em = new Emitter((ev) => r.event(ev));
    await em.task('t1', 'describe services', async () => 1);
    em.warn('PW_LOCK_LOST', 'careful');
    r.result({ ok: true, exitCode: 0 });
    await r.close();
    const lines = o()
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as PatchworkEvent & { type: string });
    expect(lines.map((l) => l.type)).toEqual(['task', 'task', 'warning', 'result']);
    expect(lines[0]).toMatchObject({ type: 'task', id: 't1', status: 'start' });
    expect(typeof lines[0]?.time).toBe('string');
    expect(e()).toContain('✓ describe services');
  });

  it('failed tasks are re-thrown and reported', async () => {
    const out = new PassThrough();
    const o = collect(out);
    const r = new PlainRenderer(out);
    const em = new Emitter((ev) => r.event(ev));
    await expect(em.task('t', 'push image', async () => Promise.reject(new Error('denied')))).rejects.toThrow('denied');
    expect(o()).toContain('✗ push image: denied');
  });
});

describe('terminal lines', () => {
  it('carry the elapsed time as [m:ss]', async () => {
    const { elapsed } = await import('../../src/cli/render.js');
    expect(elapsed(0)).toBe('[0:00]');
    expect(elapsed(42_900)).toBe('[0:42]');
    expect(elapsed(725_000)).toBe('[12:05]');
  });
  it('name resources instead of quoting their ARNs', async () => {
    const { shortenArns } = await import('../../src/cli/render.js');
    expect(
      shortenArns(
        'web: (service shop-prod-web) registered 1 targets in (target-group arn:aws:elasticloadbalancing:eu-west-1:123456789012:targetgroup/shop-prod-web/108aa957b8f4fe23)',
      ),
    ).toBe('web: (service shop-prod-web) registered 1 targets in (target-group shop-prod-web)');
    expect(shortenArns('register arn:aws:ecs:eu-west-1:123456789012:task-definition/shop-prod-web:3 done')).toBe(
      'register shop-prod-web:3 done',
    );
    expect(shortenArns('by arn:aws:sts::123456789012:assumed-role/deployer/ci')).toBe('by ci');
    expect(shortenArns('no arn here')).toBe('no arn here');
  });
});

describe('the live renderer (a terminal)', () => {
  const ev = (e: Record<string, unknown>) => ({ time: new Date().toISOString(), ...e }) as never;
  function term(columns = 60) {
    const writes: string[] = [];
    return { writes, out: { columns, write: (s: string) => writes.push(s) } };
  }

  it('prints each finished line once and redraws only the live region, at most 10 times a second', async () => {
    vi.useFakeTimers();
    try {
      const { LiveRenderer } = await import('../../src/cli/render.js');
      const { writes, out } = term();
      const r = new LiveRenderer('patchwork deploy', false, out);
      r.event(ev({ type: 'task', id: 'a', title: 'register', status: 'start' }));
      for (let i = 0; i < 50; i++) r.event(ev({ type: 'log', level: 'info', message: `line ${i}` }));
      vi.advanceTimersByTime(100);
      // 50 events, one draw: every line once, then the region (the running task and its last line).
      expect(writes).toHaveLength(1);
      expect(writes[0]!.match(/\] +line \d+\n/g)).toHaveLength(50);
      expect(writes[0]).toMatch(/register 0:00 — line 49\n$/);
      r.event(ev({ type: 'task', id: 'a', title: 'register', status: 'done' }));
      vi.advanceTimersByTime(100);
      // The next draw moves up over the one-line region only, and never repeats a finished line.
      expect(writes[1]!.startsWith('\r\x1b[1A\x1b[2K')).toBe(true);
      expect(writes[1]).not.toContain('line ');
      expect(writes[1]).toContain('✓ register\n');
      await r.close(true);
      const all = writes.join('');
      expect(all.match(/\] +line 7\n/g)).toHaveLength(1);
    } finally {
      vi.useRealTimers();
    }
  });

  it('lines fit the width; tasks still running at a failure are named once as not finished', async () => {
    vi.useFakeTimers();
    try {
      const { LiveRenderer } = await import('../../src/cli/render.js');
      const { writes, out } = term(40);
      const r = new LiveRenderer('patchwork deploy', false, out);
      r.event(ev({ type: 'task', id: 'w', title: 'rollout', status: 'start' }));
      r.event(ev({ type: 'log', level: 'info', message: 'x'.repeat(200) }));
      vi.advanceTimersByTime(100);
      r.text('deployed abc to prod');
      await r.close(false);
      const lines = stripAnsi(writes.join('')).split('\n');
      for (const l of lines) expect(l.length).toBeLessThanOrEqual(39);
      expect(lines.filter((l) => l.includes('✗ rollout: not finished'))).toHaveLength(1);
      expect(writes.at(-1)).toBe('deployed abc to prod\n');
    } finally {
      vi.useRealTimers();
    }
  });
});
