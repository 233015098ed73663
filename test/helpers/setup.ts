// Any unhandled rejection fails the run: a strategy must route every fault to this.error().
process.on('unhandledRejection', (reason) => {
  throw reason instanceof Error ? reason : new Error(`Unhandled rejection: ${String(reason)}`);
});
