/**
 * Cancellation: every verb takes `signal?: AbortSignal`. It is checked between phases and before
 * every AWS call (the client factory refuses calls once it is aborted), handed to the SDK, to
 * sleeps and polls and to the engine's build and push. An aborted verb rejects with
 * PW_INTERRUPTED after releasing what it holds (the deploy lock) and recording the release as
 * `interrupted`. A progressive deploy's follower rejects with its own PW_INTERRUPTED instead
 * (progressive.ts interruptedDeployment): ECS goes on without it, so a rerun does not resume.
 * The library never installs signal handlers: the CLI turns SIGINT/SIGTERM into an
 * abort.
 */
import { PatchworkError } from './errors.js';

/** The error an aborted verb rejects with (exit 130). */
export function interrupted(signal?: AbortSignal, what?: string): PatchworkError {
  const reason = signal?.reason;
  const why =
    typeof reason === 'string'
      ? reason
      : reason instanceof Error && reason.name !== 'AbortError'
        ? reason.message
        : 'cancelled';
  return new PatchworkError('PW_INTERRUPTED', `interrupted (${why})${what ? ` ${what}` : ''}`, {
    hint: 'run the command again: it resumes where it stopped; `patchwork status` shows where it stands',
  });
}

/** Throws PW_INTERRUPTED when the signal is aborted; `what` says what was not started. */
export function throwIfAborted(signal: AbortSignal | undefined, what?: string): void {
  if (signal?.aborted) throw interrupted(signal, what);
}

export function isInterrupted(err: unknown): boolean {
  return err instanceof PatchworkError && err.code === 'PW_INTERRUPTED';
}

/** Waits ms, or rejects with PW_INTERRUPTED as soon as the signal aborts. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  if (signal?.aborted) return Promise.reject(interrupted(signal));
  return new Promise<void>((resolve, reject) => {
    const onAbort = () => {
      clearTimeout(timer);
      reject(interrupted(signal));
    };
    const timer = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    }, ms);
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}

/** A sleep bound to one signal, for the `sleep` options of polls and waits. */
export const sleeper =
  (signal?: AbortSignal) =>
  (ms: number): Promise<void> =>
    sleep(ms, signal);
