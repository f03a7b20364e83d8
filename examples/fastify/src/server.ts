import { ConfigError, loadConfig } from '@org/scim-core/app';
import { createApp } from './app.js';

try {
  const config = loadConfig();
  const { app, description } = await createApp(config);
  const address = await app.listen({ port: config.port, host: config.host });
  console.log(`example-fastify listening on ${address} (${description})`);
  // `app.close()` also ends the database pool (an `onClose` hook in `createApp`).
  const shutdown = () => app.close().then(() => process.exit(0));
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`example-fastify: ${error.message}`);
  process.exit(1);
}
