// `npm run bench`: the benchmarks of ../shared/BENCHMARKS.md arrive with their own issue; until
// then this says so instead of pretending to measure anything.
console.log(
  'No benchmarks yet: B-IDT, B-OIDC, B-XTOK, B-OTP, B-MEM and B-POLL land with the benchmark issue.',
);
