/** What the fake Scalekit's tests share: the real SDK client on a fake, and what a call rejected with. */
import { ScalekitClient } from '@scalekit-sdk/node';
import type { FakeScalekit } from '../src/fake-scalekit.js';

export function sdkOf(fake: FakeScalekit): ScalekitClient {
  return new ScalekitClient(fake.url, fake.clientId, fake.clientSecret);
}

/** What the SDK threw, or a failure if it did not. */
export async function rejection(promise: Promise<unknown>): Promise<unknown> {
  try {
    await promise;
  } catch (error) {
    return error;
  }
  throw new Error('expected the call to reject');
}
