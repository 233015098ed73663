import { expect } from 'chai';

/** Awaits a promise that must reject with an instance of `type`, and answers the rejection. */
export async function rejectionOf<E extends Error>(
  promise: Promise<unknown>,
  type: abstract new (...args: never[]) => E,
): Promise<E> {
  const outcome = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(outcome, `expected a rejection with ${type.name}`).to.be.instanceOf(type);
  return outcome as E;
}
