/** The real `ScalekitClient` from the three Scalekit variables, for the commands that read Scalekit's API. */
import type { ScalekitClient } from '@scalekit-sdk/node';
import { UsageError } from './errors.js';
import type { CliIo } from './io.js';

const SCALEKIT_VARIABLES = ['SCALEKIT_ENVIRONMENT_URL', 'SCALEKIT_CLIENT_ID', 'SCALEKIT_CLIENT_SECRET'] as const;

/** Refuses (exit 2) what is missing or malformed, naming it; `reads` says what the command reads with them. */
export async function scalekitClientFromEnv(
  env: CliIo['env'],
  command: string,
  reads: string,
): Promise<ScalekitClient> {
  const missing = SCALEKIT_VARIABLES.filter((name) => !env[name]);
  if (missing.length > 0) {
    throw new UsageError(
      `${missing.join(', ')} ${missing.length === 1 ? 'is' : 'are'} not set: ${command} reads ${reads} with ` +
        `SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID and SCALEKIT_CLIENT_SECRET (the dashboard's API credentials).`,
    );
  }
  const url = env.SCALEKIT_ENVIRONMENT_URL as string;
  if (!URL.canParse(url)) {
    throw new UsageError(`SCALEKIT_ENVIRONMENT_URL must be a URL such as https://acme.scalekit.dev, got "${url}".`);
  }
  // Loaded on demand: the SDK takes half a second to import, which `trigger` and `--help` need not wait for.
  const { ScalekitClient } = await import('@scalekit-sdk/node');
  return new ScalekitClient(url, env.SCALEKIT_CLIENT_ID as string, env.SCALEKIT_CLIENT_SECRET as string);
}
