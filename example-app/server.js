// `npm start`: the example app on the built-in sandbox, on http://localhost:3000 (PORT to change).
import { startSandbox } from 'passport-factors/sandbox';
import { createExampleApp } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const sandbox = await startSandbox({ port: Number(process.env.SANDBOX_PORT ?? 0) });
const app = await createExampleApp({ sandbox, publicUrl: `http://localhost:${port}` });
const server = app.listen(port, () => {
  console.log(`passport-factors example app: http://localhost:${port}`);
  console.log(`vendor sandbox:               ${sandbox.url}`);
  console.log(`sandbox phone (texts):        ${sandbox.url}/phone`);
});

for (const signal of ['SIGINT', 'SIGTERM']) {
  process.once(signal, () => {
    server.close();
    server.closeAllConnections();
    void sandbox.close();
  });
}
