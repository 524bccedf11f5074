/** Counts AWS API calls per service/operation; mutating ones are told apart by operation name. */

export interface ApiCalls {
  /** Logical calls (one per SDK `send`, whatever the retries). */
  total: number;
  /** Logical calls that change something. */
  mutating: number;
  /** HTTP attempts, retries included. */
  attempts: number;
  /** `Service.Operation` → logical calls. */
  byOperation: Record<string, number>;
}

const READ_PREFIXES = ['Describe', 'List', 'Get', 'BatchGet', 'Query', 'Scan', 'BatchCheck', 'Lookup'];

/** True when an operation changes state. GetAuthorizationToken and friends are reads. */
export function isMutating(operation: string): boolean {
  return !READ_PREFIXES.some((p) => operation.startsWith(p));
}

export class ApiCallCounter {
  private calls = new Map<string, number>();
  private mutatingCalls = 0;
  private attemptCount = 0;
  private listeners: ((service: string, operation: string, mutating: boolean) => void)[] = [];

  record(service: string, operation: string): void {
    const key = `${service}.${operation}`;
    this.calls.set(key, (this.calls.get(key) ?? 0) + 1);
    const mutating = isMutating(operation);
    if (mutating) this.mutatingCalls++;
    for (const l of this.listeners) l(service, operation, mutating);
  }

  attempt(): void {
    this.attemptCount++;
  }

  /** Called on every logical call (tests use it to stop a run after N calls). */
  onCall(listener: (service: string, operation: string, mutating: boolean) => void): void {
    this.listeners.push(listener);
  }

  snapshot(): ApiCalls {
    let total = 0;
    const byOperation: Record<string, number> = {};
    for (const [k, v] of [...this.calls.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      byOperation[k] = v;
      total += v;
    }
    return { total, mutating: this.mutatingCalls, attempts: this.attemptCount, byOperation };
  }
}
