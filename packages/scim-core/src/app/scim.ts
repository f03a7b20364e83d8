/**
 * `/scim/v2/*`: the SCIM 2.0 server (for Okta, Entra…) on the same engine as the webhook route, so
 * SCIM users reach the same handlers as Scalekit ones. Framework-agnostic: each example mounts the
 * `ScimServer` with its adapter.
 *
 * Without `SCIM_BEARER_TOKEN` and `SCIM_ORGANIZATION_ID` it still mounts, answering every request
 * 503 `scim_not_configured` naming what is missing, as `POST /api/sync` does.
 */
import { createScimServer, type ProvisioningEngine, type ScimServer, scimTokenAuthenticator } from '../index.js';
import { responseOf, scimRequestOf } from '../scim/exchange.js';
import type { AppConfig } from './config.js';
import { checkEngineAnd } from './options.js';
import { logServerError, type ServerErrorHook } from './server-errors.js';

export const SCIM_BASE_PATH = '/scim/v2';

/** `onServerError` hears of every 5xx with its cause (default `logServerError`). */
export function createScim(
  engine: ProvisioningEngine,
  config: Pick<AppConfig, 'scim'>,
  onServerError: ServerErrorHook = logServerError,
): ScimServer {
  checkEngineAnd('createScim', engine, { name: 'config', value: config });
  const scim = config.scim;
  if ('missing' in scim) {
    const code = 'scim_not_configured';
    const message = `The SCIM server needs SCIM_TOKENS (organization_id=sha256:… digests, from npx scim-sync scim-token create), or ${scim.missing.join(', ')} for one organization: set them and restart. Webhooks work without them.`;
    const respond: ScimServer['respond'] = async (request) => {
      onServerError({ route: `${request.method} ${new URL(request.url).pathname}`, status: 503, code, message });
      return {
        status: 503,
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ error: { code, message } }),
      };
    };
    return { respond, handle: async (request) => responseOf(await respond(scimRequestOf(request))) };
  }
  // Only digests are kept, one or more per organization: a token sees its own organization only.
  const authenticator = scimTokenAuthenticator(scim.tokens);
  return createScimServer({
    engine,
    authenticator,
    basePath: SCIM_BASE_PATH,
    // Core reports every failed request; a 5xx (a handler or the store failed) comes with its cause.
    onError: ({ status, detail, method, path, error }) => {
      if (status >= 500) {
        onServerError({ route: `${method} ${path}`, status, code: 'scim_server_error', message: detail, cause: error });
      }
    },
  });
}
