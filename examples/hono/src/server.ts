import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from '@org/scim-core/app';
import { createApp } from './app.js';

try {
  const config = loadConfig();
  const { app, description, close } = await createApp(config);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    console.log(`example-hono listening on http://${config.host}:${info.port} (${description})`);
  });
  const shutdown = () => server.close(() => void close().finally(() => process.exit(0)));
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`example-hono: ${error.message}`);
  process.exit(1);
}
