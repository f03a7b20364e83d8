/** The example's environment, as DESIGN.md's contract names it. */
export interface ExampleConfig {
  port: number;
  host: string;
  webhookSecret: string;
}

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): ExampleConfig {
  const webhookSecret = env.SCALEKIT_WEBHOOK_SECRET;
  if (!webhookSecret) {
    throw new ConfigError(
      'SCALEKIT_WEBHOOK_SECRET is not set. Copy it from the Scalekit dashboard (Webhooks → your endpoint → Signing secret); it starts with "whsec_".',
    );
  }
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`PORT must be a port number, got "${env.PORT}".`);
  return { port, host: env.HOST ?? '127.0.0.1', webhookSecret };
}
