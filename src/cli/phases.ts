/**
 * Elapsed time per phase of a deploy or rollback (build, push, register, rollout, smoke), measured
 * from the events the library emits: a phase runs from the first event of its kind to the last.
 * build: `build:*` tasks until their first pushed layer; push: first pushed layer to the task's end;
 * register: `register:*` tasks; rollout: the first `update:*` task to the end of the wait;
 * smoke: the `smoke` task.
 */
import type { PatchworkEvent } from '../lib/events.js';

export type Phase = 'build' | 'push' | 'register' | 'rollout' | 'smoke';
export const PHASES: readonly Phase[] = ['build', 'push', 'register', 'rollout', 'smoke'];

interface Span {
  from: number;
  to: number;
}

export class PhaseClock {
  private readonly spans = new Map<Phase, Span>();
  private pushing = false;
  private buildSkipped = 0;
  private buildTasks = 0;

  constructor(private readonly now: () => number = Date.now) {}

  event(e: PatchworkEvent): void {
    const t = e.time ? Date.parse(e.time) : this.now();
    if (e.type === 'data' && e.kind === 'push.layer') {
      // The first pushed layer ends the build (of the service being built) and starts the push.
      if (!this.pushing && this.spans.has('build')) this.mark('build', t);
      this.pushing = true;
      this.mark('push', t);
      return;
    }
    if (e.type === 'task') {
      const kind = e.id.split(':')[0];
      if (kind === 'build') {
        if (e.status === 'start') this.buildTasks++;
        if (e.status === 'skip') this.buildSkipped++;
        // A build task ends after its push: the build phase stops at the first pushed layer.
        this.mark(this.pushing && e.status !== 'start' ? 'push' : 'build', t);
      } else if (kind === 'register') this.mark('register', t);
      else if (kind === 'update') this.mark('rollout', t);
      else if (kind === 'smoke') {
        this.mark('smoke', t);
        // The wait ends where the smoke test starts.
        if (e.status === 'start') this.extend('rollout', t);
      }
      return;
    }
    // Rollout progress lines (the wait) extend the rollout until the smoke test starts.
    if (e.type === 'log' && this.spans.has('rollout') && !this.spans.has('smoke')) this.extend('rollout', t);
  }

  /** Seconds per phase that happened (two decimals); `build` is absent when every image was already pushed. */
  seconds(): Partial<Record<Phase, number>> {
    const out: Partial<Record<Phase, number>> = {};
    for (const p of PHASES) {
      const s = this.spans.get(p);
      if (!s) continue;
      if (p === 'build' && this.buildTasks > 0 && this.buildSkipped === this.buildTasks) continue;
      out[p] = Math.round((s.to - s.from) / 10) / 100;
    }
    return out;
  }

  /** `build 12.3s, push 2.1s, register 0.2s, rollout 31.0s, smoke 0.4s`, with a rollout measured by the wait itself when given. */
  describe(rolloutSeconds?: number): string {
    const s = this.seconds();
    if (rolloutSeconds !== undefined) s.rollout = rolloutSeconds;
    const parts = PHASES.filter((p) => s[p] !== undefined).map((p) => `${p} ${s[p]}s`);
    if (this.buildTasks > 0 && this.buildSkipped === this.buildTasks) parts.unshift('build skipped (already pushed)');
    return parts.join(', ');
  }

  private mark(p: Phase, t: number): void {
    const s = this.spans.get(p);
    if (!s) this.spans.set(p, { from: t, to: t });
    else s.to = Math.max(s.to, t);
  }

  private extend(p: Phase, t: number): void {
    const s = this.spans.get(p);
    if (s) s.to = Math.max(s.to, t);
  }
}
