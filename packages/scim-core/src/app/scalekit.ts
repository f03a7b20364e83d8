/**
 * Scalekit's API client, created only when the app has its credentials. `@scalekit-sdk/node` is an
 * optional peer of `@org/scim-core`: an app that only receives webhooks (or only serves SCIM) never
 * installs or loads it, and its types never reach this package's declarations (the client is typed
 * structurally, by the calls reconciliation and the portal-link route make).
 */
import type { PortalLinkClient, ScalekitDirectoryClient } from '../index.js';
import { type AppConfig, ConfigError, type ScalekitApiMissing } from './config.js';
import { checkScalekitConfig } from './options.js';

/** What reconciliation and the admin portal call on `new ScalekitClient(…)`. */
export type ScalekitApiClient = ScalekitDirectoryClient & PortalLinkClient;

/** The client, or the variables still missing (the features that need it then answer 503 naming them). */
export type ScalekitApi = { readonly client: ScalekitApiClient } | ScalekitApiMissing;

/**
 * `new ScalekitClient(SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET)` when all
 * three are set, loading `@scalekit-sdk/node` only then. Throws `ConfigError` (saying what to install)
 * when they are set and the SDK is not installed.
 */
export async function openScalekit(config: Pick<AppConfig, 'scalekitApi'>): Promise<ScalekitApi> {
  checkScalekitConfig(config);
  const api = config.scalekitApi;
  if ('missing' in api) return api;
  let sdk: { ScalekitClient: new (url: string, id: string, secret: string) => unknown };
  try {
    sdk = await import('@scalekit-sdk/node');
  } catch (error) {
    throw new ConfigError(
      'SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET are set, so reconciliation and the admin portal need Scalekit’s SDK: npm install @scalekit-sdk/node (or unset them: webhooks work without).',
      { cause: error },
    );
  }
  const client = new sdk.ScalekitClient(api.environmentUrl, api.clientId, api.clientSecret);
  return { client: client as ScalekitApiClient };
}
