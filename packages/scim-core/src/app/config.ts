import { hashScimToken, type ScimTokenEntry } from '../index.js';
import { type AccessConfig, AccessConfigError, readAccessConfig } from './access.js';
import { DEFAULT_SESSION_TTL_SECONDS } from './session.js';

/**
 * The app's environment, as DESIGN.md's contract for the examples names it: `loadConfig()` reads and
 * checks it at start, and throws `ConfigError` naming the variable and what to set it to.
 */
export interface AppConfig {
  port: number;
  host: string;
  webhookSecret: string;
  /** The Directory API credentials `POST /api/sync` needs, or the variables still missing. */
  scalekitApi: ScalekitApiConfig | ScalekitApiMissing;
  /** PostgreSQL or MySQL from `DATABASE_URL`; `undefined` (unset or empty) means the in-memory store. */
  database: DatabaseConfig | undefined;
  /** The SCIM 2.0 server's bearer token and its organization, or the variables still missing. */
  scim: ScimConfig | ScimMissing;
  /**
   * `DEMO_LOGIN=1`: `/login` signs you in as the admin of any organization you name, to try
   * `/settings` (the admin portal). Demo only: a real app uses its own sign-in.
   */
  demoLogin: boolean;
  /** `SESSION_SECRET`: signs the demo session cookie. Unset: a random one per process. */
  sessionSecret: string | undefined;
  /** `SESSION_TTL_SECONDS`: how long a demo session lasts. Default 8 hours. */
  sessionTtlSeconds: number;
  /**
   * The role mapping from `ACCESS_RULES` (JSON) or `ACCESS_RULES_FILE` (a JSON file): which app
   * roles each organization's groups and directory roles grant (see `access.ts`, docs/roles.md).
   * `undefined` when neither is set: the rules saved in the store apply (none at first).
   */
  access: AccessConfig | undefined;
}

/**
 * The tokens Okta or Entra send to `/scim/v2/*`, each with the organization it provisions: one or
 * more per customer (several at once for rotation). Only digests (`hashScimToken(token)`) are kept.
 */
export interface ScimConfig {
  tokens: readonly ScimTokenEntry[];
}

/** The SCIM server is optional: without these `/scim/v2/*` answers 503 `scim_not_configured`. */
export interface ScimMissing {
  missing: readonly ScimVariable[];
}

export const SCIM_VARIABLES = ['SCIM_BEARER_TOKEN', 'SCIM_ORGANIZATION_ID'] as const;

/** At most this many `SCIM_TOKENS` entries: the variable is read once, at start, but still bounded. */
export const MAX_SCIM_TOKENS = 10_000;
const ORGANIZATION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const TOKEN_DIGEST = /^sha256:[A-Za-z0-9_-]{43}$/;
export type ScimVariable = (typeof SCIM_VARIABLES)[number];

/**
 * Where the example keeps scim-sync's tables and its own, by `DATABASE_URL`'s scheme: PostgreSQL
 * (`postgres://`, `postgresql://`) in one schema, or MySQL / MariaDB (`mysql://`) in the URL's
 * database, under one table prefix. `kind` says which.
 */
export type DatabaseConfig = PostgresDatabaseConfig | MysqlDatabaseConfig;

export interface PostgresDatabaseConfig {
  kind: 'postgres';
  /** `DATABASE_URL`, e.g. `postgres://user:password@localhost:5432/app`. */
  url: string;
  /** `DATABASE_SCHEMA`, default `scim_example`: holds scim-sync's tables and the app's `app_*` tables. */
  schema: string;
}

export interface MysqlDatabaseConfig {
  kind: 'mysql';
  /** `DATABASE_URL`, e.g. `mysql://user:password@localhost:3306/app` (MariaDB too). */
  url: string;
  /**
   * `DATABASE_TABLE_PREFIX`, default `scim_example_`: begins the names of scim-sync's tables
   * (`<prefix>ledger`, …) and the app's (`<prefix>app_users`, …) in the URL's database.
   */
  tablePrefix: string;
}

export const DEFAULT_DATABASE_SCHEMA = 'scim_example';
export const DEFAULT_DATABASE_TABLE_PREFIX = 'scim_example_';

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

/**
 * `SCIM_TOKENS`: every customer's tokens, as `organization_id=sha256:…` digests (what
 * `npx scim-sync scim-token create --organization org_…` prints), separated by commas, spaces or
 * line breaks. `SCIM_BEARER_TOKEN` with `SCIM_ORGANIZATION_ID` adds one plain token for one
 * organization (a quick start). An empty variable counts as unset.
 */
function readScim(env: NodeJS.ProcessEnv): ScimConfig | ScimMissing {
  const tokens: ScimTokenEntry[] = [];
  const list = env.SCIM_TOKENS?.trim();
  if (list) {
    const entries = list.split(/[\s,]+/);
    if (entries.length > MAX_SCIM_TOKENS) {
      throw new ConfigError(`SCIM_TOKENS holds ${entries.length} entries; at most ${MAX_SCIM_TOKENS}.`);
    }
    const owners = new Map<string, string>();
    for (const [index, entry] of entries.entries()) {
      const at = entry.indexOf('=');
      const organizationId = entry.slice(0, at);
      const tokenHash = entry.slice(at + 1);
      // Never echo an entry: a plain token pasted by mistake would land in a log.
      if (at < 1 || !ORGANIZATION_ID.test(organizationId) || !TOKEN_DIGEST.test(tokenHash)) {
        throw new ConfigError(
          `SCIM_TOKENS entry ${index + 1} is not organization_id=sha256:<digest>. Make each with \`npx scim-sync scim-token create --organization org_…\`, which prints the token to give the identity provider and the entry to add here (never the token itself).`,
        );
      }
      const owner = owners.get(tokenHash);
      if (owner !== undefined && owner !== organizationId) {
        throw new ConfigError(
          `SCIM_TOKENS gives one token to both ${owner} and ${organizationId}: a token belongs to one organization.`,
        );
      }
      owners.set(tokenHash, organizationId);
      tokens.push({ organizationId, tokenHash });
    }
  }
  const single = SCIM_VARIABLES.filter((name) => !env[name]);
  if (single.length === 0) {
    const organizationId = env.SCIM_ORGANIZATION_ID as string;
    if (!ORGANIZATION_ID.test(organizationId)) {
      throw new ConfigError(
        `SCIM_ORGANIZATION_ID must be an organization id such as org_123 (letters, digits, _ and -; at most 64).`,
      );
    }
    tokens.push({ organizationId, tokenHash: hashScimToken(env.SCIM_BEARER_TOKEN as string) });
  } else if (single.length === 1) {
    throw new ConfigError(
      `${single[0]} is not set, but ${SCIM_VARIABLES.find((name) => name !== single[0])} is: set both, or neither.`,
    );
  }
  return tokens.length > 0 ? { tokens } : { missing: SCIM_VARIABLES };
}

const DATABASE_URL_EXAMPLES =
  'postgres://user:password@localhost:5432/app (PostgreSQL) or mysql://user:password@localhost:3306/app (MySQL or MariaDB)';

/**
 * An empty `DATABASE_URL` counts as unset too: the in-memory store. Its scheme picks the database;
 * each database's naming variable is refused for the other, so a setting never silently does nothing.
 */
function readDatabase(env: NodeJS.ProcessEnv): DatabaseConfig | undefined {
  const url = env.DATABASE_URL;
  if (!url) return undefined;
  if (!URL.canParse(url)) {
    // The value may hold a password: do not echo it.
    throw new ConfigError(`DATABASE_URL must be a URL such as ${DATABASE_URL_EXAMPLES}.`);
  }
  const scheme = new URL(url).protocol.slice(0, -1).toLowerCase();
  if (scheme === 'postgres' || scheme === 'postgresql') {
    if (env.DATABASE_TABLE_PREFIX) {
      throw new ConfigError(
        'DATABASE_TABLE_PREFIX is for MySQL: on PostgreSQL scim-sync and the app keep their tables in DATABASE_SCHEMA. Unset it, or set DATABASE_SCHEMA instead.',
      );
    }
    const schema = env.DATABASE_SCHEMA || DEFAULT_DATABASE_SCHEMA;
    if (!/^[A-Za-z_][A-Za-z0-9_]{0,62}$/.test(schema)) {
      throw new ConfigError(
        `DATABASE_SCHEMA must be a plain PostgreSQL name (letters, digits, _; at most 63), got "${schema}".`,
      );
    }
    return { kind: 'postgres', url, schema };
  }
  if (scheme === 'mysql') {
    if (env.DATABASE_SCHEMA) {
      throw new ConfigError(
        "DATABASE_SCHEMA is for PostgreSQL: on MySQL the tables go in DATABASE_URL's database, their names beginning with DATABASE_TABLE_PREFIX (default scim_example_). Unset it, or set DATABASE_TABLE_PREFIX instead.",
      );
    }
    const tablePrefix = env.DATABASE_TABLE_PREFIX || DEFAULT_DATABASE_TABLE_PREFIX;
    // Lower case only: MySQL on Windows and macOS folds table names to lower case.
    if (!/^[a-z][a-z0-9_]{0,47}$/.test(tablePrefix)) {
      throw new ConfigError(
        `DATABASE_TABLE_PREFIX must be lower-case letters, digits and _ (a letter first; at most 48), such as scim_example_, got "${tablePrefix}".`,
      );
    }
    return { kind: 'mysql', url, tablePrefix };
  }
  throw new ConfigError(
    `DATABASE_URL must be a postgres:// (or postgresql://) URL for PostgreSQL, or a mysql:// URL for MySQL and MariaDB, got a ${scheme}: URL. For example ${DATABASE_URL_EXAMPLES}.`,
  );
}

/** The role mapping, its problems as `ConfigError`s like every other variable's. */
function readAccess(env: NodeJS.ProcessEnv): AccessConfig | undefined {
  try {
    return readAccessConfig(env);
  } catch (error) {
    if (error instanceof AccessConfigError) throw new ConfigError(error.message, { cause: error });
    throw error;
  }
}

export function loadConfig(env: NodeJS.ProcessEnv = process.env): AppConfig {
  const webhookSecret = env.SCALEKIT_WEBHOOK_SECRET;
  if (!webhookSecret) {
    throw new ConfigError(
      'SCALEKIT_WEBHOOK_SECRET is not set. Copy it from the Scalekit dashboard (Webhooks → your endpoint → Signing secret); it starts with "whsec_". ' +
        'To try the app locally, make one with `npx scim-sync secret` (from @org/scim-cli), start the app with it, and send signed test events with `npx scim-sync trigger user_created --url http://127.0.0.1:3000/webhooks/scalekit --secret whsec_…`.',
    );
  }
  const port = Number(env.PORT ?? 3000);
  if (!Number.isInteger(port) || port < 0 || port > 65535)
    throw new ConfigError(`PORT must be a port number, got "${env.PORT}".`);
  const sessionTtlSeconds = Number(env.SESSION_TTL_SECONDS || DEFAULT_SESSION_TTL_SECONDS);
  if (!Number.isInteger(sessionTtlSeconds) || sessionTtlSeconds < 1 || sessionTtlSeconds > 30 * 24 * 60 * 60) {
    throw new ConfigError(
      `SESSION_TTL_SECONDS must be a whole number of seconds from 1 to 2592000 (30 days), got "${env.SESSION_TTL_SECONDS}".`,
    );
  }
  return {
    port,
    host: env.HOST ?? '127.0.0.1',
    webhookSecret,
    scalekitApi: readScalekitApi(env),
    database: readDatabase(env),
    scim: readScim(env),
    demoLogin: env.DEMO_LOGIN === '1' || env.DEMO_LOGIN === 'true',
    sessionSecret: env.SESSION_SECRET || undefined,
    sessionTtlSeconds,
    access: readAccess(env),
  };
}
