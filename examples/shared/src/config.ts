/** The example's environment, as DESIGN.md's contract names it. */
export interface ExampleConfig {
  port: number;
  host: string;
  webhookSecret: string;
  /** The Directory API credentials `POST /api/sync` needs, or the variables still missing. */
  scalekitApi: ScalekitApiConfig | ScalekitApiMissing;
}

/** Scalekit's API credentials (dashboard → Developers → API credentials). */
export interface ScalekitApiConfig {
  environmentUrl: string;
  clientId: string;
  clientSecret: string;
}

/** Reconciliation is optional: without these the webhook route still works and `/api/sync` answers 503. */
export interface ScalekitApiMissing {
  missing: readonly ScalekitApiVariable[];
}

export const SCALEKIT_API_VARIABLES = [
  'SCALEKIT_ENVIRONMENT_URL',
  'SCALEKIT_CLIENT_ID',
  'SCALEKIT_CLIENT_SECRET',
] as const;
export type ScalekitApiVariable = (typeof SCALEKIT_API_VARIABLES)[number];

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
}

/** An empty variable counts as unset, so `SCALEKIT_CLIENT_ID=` in a `.env` file turns reconciliation off. */
function readScalekitApi(env: NodeJS.ProcessEnv): ScalekitApiConfig | ScalekitApiMissing {
  const missing = SCALEKIT_API_VARIABLES.filter((name) => !env[name]);
  if (missing.length > 0) return { missing };
  const environmentUrl = env.SCALEKIT_ENVIRONMENT_URL as string;
  if (!URL.canParse(environmentUrl)) {
    throw new ConfigError(
      `SCALEKIT_ENVIRONMENT_URL must be a URL such as https://acme.scalekit.dev, got "${environmentUrl}".`,
    );
  }
  return {
    environmentUrl,
    clientId: env.SCALEKIT_CLIENT_ID as string,
    clientSecret: env.SCALEKIT_CLIENT_SECRET as string,
  };
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
  return { port, host: env.HOST ?? '127.0.0.1', webhookSecret, scalekitApi: readScalekitApi(env) };
}
