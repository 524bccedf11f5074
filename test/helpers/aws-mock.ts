/**
 * The ONE shared aws-sdk-client-mock helper for unit tests: an AwsClients factory with static
 * credentials (no provider chain, no network), and mocks per SDK client class, reset per test.
 */
import { mockClient } from 'aws-sdk-client-mock';
import { AwsClients } from '../../src/lib/aws/clients.js';
import { ApiCallCounter } from '../../src/lib/aws/counter.js';

type AnyClientClass = Parameters<typeof mockClient>[0];

const mocks = new Map<AnyClientClass, ReturnType<typeof mockClient>>();

/** Mocks every instance of an SDK client class (the factory's included); reset for each call. */
export function awsMock<T extends AnyClientClass>(clientClass: T): ReturnType<typeof mockClient> {
  let m = mocks.get(clientClass);
  if (!m) {
    m = mockClient(clientClass);
    mocks.set(clientClass, m);
  }
  m.reset();
  return m;
}

/** Undo every mock (call in afterAll of files that mix mocks with real clients). */
export function restoreAwsMocks(): void {
  for (const m of mocks.values()) m.restore();
  mocks.clear();
}

/** A client factory that never looks for real credentials or endpoints. */
export function testClients(region = 'eu-west-1'): AwsClients {
  return new AwsClients(
    { region, credentials: async () => ({ accessKeyId: 'AKIDTEST', secretAccessKey: 'secret' }) },
    new ApiCallCounter(),
  );
}
