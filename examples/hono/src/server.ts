import { serve } from '@hono/node-server';
import { ConfigError, loadConfig } from 'example-shared';
import { createApp } from './app.js';

try {
  const config = loadConfig();
  const { app } = createApp(config);
  const server = serve({ fetch: app.fetch, port: config.port, hostname: config.host }, (info) => {
    console.log(`example-hono listening on http://${config.host}:${info.port}`);
  });
  const shutdown = () => server.close(() => process.exit(0));
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`example-hono: ${error.message}`);
  process.exit(1);
}
