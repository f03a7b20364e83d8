import { ConfigError, loadConfig } from '@org/scim-core/app';

/** Stops the server with the message when a variable is wrong (Node.js runtime only: it exits the process). */
export function checkEnvironment(): void {
  try {
    loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(`example-next: ${error.message}`);
    process.exit(1);
  }
}
