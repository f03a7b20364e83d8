import { runExampleContractSuite } from '../../../scripts/example-contract.js';
import { createApp } from '../src/app.js';

runExampleContractSuite('examples/fastify', async (config) => {
  const { app } = await createApp(config);
  const url = await app.listen({ port: 0, host: '127.0.0.1' });
  return { url, close: () => app.close() };
});
