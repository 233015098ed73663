import fc from 'fast-check';

/**
 * How hard to fuzz. The test suite runs a small, seeded count so CI is fast and repeatable;
 * `npm run fuzz` sets FUZZ_RUNS=10000 and a fresh seed (printed with any counterexample).
 */
export function fuzzParameters(defaultRuns = 200): fc.Parameters<unknown> {
  const runs = Number(process.env.FUZZ_RUNS ?? defaultRuns);
  const seed =
    process.env.FUZZ_SEED === 'random'
      ? Date.now() ^ (Math.random() * 2 ** 31)
      : Number(process.env.FUZZ_SEED ?? 20261122);
  if (!Number.isInteger(runs) || runs < 1)
    throw new Error(`FUZZ_RUNS must be a positive integer, got ${process.env.FUZZ_RUNS}`);
  return { numRuns: runs, seed };
}

/** Runs for a property that costs about `cost` times a cheap one (a scrypt, an HTTP round trip). */
export function scaledRuns(parameters: fc.Parameters<unknown>, divisor: number): fc.Parameters<unknown> {
  return { ...parameters, numRuns: Math.max(20, Math.ceil((parameters.numRuns ?? 100) / divisor)) };
}

/** Strings that break parsers: odd Unicode, controls, separators, very long runs. */
export const hostileString = (maxLength = 512): fc.Arbitrary<string> =>
  fc.oneof(
    fc.string({ maxLength, unit: 'binary' }),
    fc.string({ maxLength, unit: 'grapheme' }),
    fc.string({ maxLength }),
    fc.constantFrom(
      '',
      ' ',
      '\u0000',
      '\uFEFF',
      '\uD800',
      'e\u0301',
      '١٢٣٤٥٦',
      '１２３４５６',
      '𝟏𝟐𝟑𝟒𝟓𝟔',
      '%00',
      '__proto__',
      'constructor',
    ),
    fc.string({ maxLength: 8 }).map((s) => s.repeat(1 + (maxLength >> 3))),
  );

/** A string with one character replaced, inserted or removed at a random place. */
export function mutated(original: string): fc.Arbitrary<string> {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.=+/ ';
  return fc
    .tuple(
      fc.nat({ max: original.length - 1 }),
      fc.constantFrom('replace', 'insert', 'delete'),
      fc.constantFrom(...alphabet),
    )
    .map(([at, how, char]) => {
      if (how === 'delete') return original.slice(0, at) + original.slice(at + 1);
      if (how === 'insert') return original.slice(0, at) + char + original.slice(at);
      return original.slice(0, at) + char + original.slice(at + 1);
    })
    .filter((changed) => changed !== original);
}
