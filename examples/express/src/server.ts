import { ConfigError, loadConfig } from '@org/scim-core/app';
import { createApp } from './app.js';

try {
  const config = loadConfig();
  const { app, description, close } = await createApp(config);
  const server = app.listen(config.port, config.host, () => {
    const address = server.address();
    const port = typeof address === 'object' && address ? address.port : config.port;
    console.log(`example-express listening on http://${config.host}:${port} (${description})`);
  });
  const shutdown = () => server.close(() => void close().finally(() => process.exit(0)));
  process.on('SIGINT', shutdown);
  process.on('SIGTERM', shutdown);
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  console.error(`example-express: ${error.message}`);
  process.exit(1);
}
