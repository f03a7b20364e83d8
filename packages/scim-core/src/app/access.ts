/**
 * The app's role mapping from its environment: `ACCESS_RULES` (JSON) or `ACCESS_RULES_FILE` (a path
 * to a JSON file), read and checked once at start by `loadConfig()`, then handed to the engine
 * (`accessOptions`) and to the settings page (`accessView`).
 *
 * The JSON is either ONE rule set, for every organization:
 *
 * ```json
 * { "defaultRoles": ["member"], "rules": [{ "match": "groupId", "value": "dirgroup_123", "grant": ["admin"] }] }
 * ```
 *
 * or rule sets per organization, with an optional `default` for the organizations not named:
 *
 * ```json
 * { "default": { "defaultRoles": ["member"] },
 *   "organizations": { "org_123": { "rules": [{ "match": "groupId", "value": "dirgroup_123", "grant": ["admin"] }] } } }
 * ```
 *
 * An organization named in `organizations` gets its own rule set only (nothing of `default` is
 * merged in). A rule set is what `parseAccessRules` accepts (see docs/roles.md), with its caps. Set,
 * the mapping is the only source of rules: the engine never reads rules from the store. Unset, the
 * examples keep access on and the rules are the store's (`engine.access.putRules`), none at first.
 */
import { readFileSync, statSync } from 'node:fs';
import type { AccessOptions } from '../access/engine-access.js';
import { type AccessRules, AccessRulesError, parseAccessRules } from '../access/rules.js';
import type { ProvisioningEngine } from '../engine/engine.js';
import type { DirectoryGroup } from '../model.js';

/** The role mapping `loadConfig()` read, and where from. */
export interface AccessConfig {
  /** The variable that held it, for messages. */
  readonly from: AccessVariable;
  /** The rule set of every organization not in `organizations`; `undefined`: none (no roles there). */
  readonly default: AccessRules | undefined;
  /** Rule sets by organization id. */
  readonly organizations: ReadonlyMap<string, AccessRules>;
}

export const ACCESS_VARIABLES = ['ACCESS_RULES', 'ACCESS_RULES_FILE'] as const;
export type AccessVariable = (typeof ACCESS_VARIABLES)[number];

/** The most bytes of JSON `ACCESS_RULES` or `ACCESS_RULES_FILE` may hold: read once, at start, but bounded. */
export const MAX_ACCESS_RULES_BYTES = 4 * 1024 * 1024;
/** The most organizations `organizations` may name. */
export const MAX_ACCESS_ORGANIZATIONS = 10_000;

const ORGANIZATION_ID = /^[A-Za-z0-9_-]{1,64}$/;
/** Keys that reach an object's prototype: never an organization id here. */
const RESERVED = new Set(['__proto__', 'constructor', 'prototype']);

/** A start-up problem with the role mapping, naming the variable. `loadConfig` rethrows it as `ConfigError`. */
export class AccessConfigError extends Error {
  override readonly name = 'AccessConfigError';
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === 'object' && value !== null && !Array.isArray(value);

function ruleSet(from: AccessVariable, where: string, input: unknown): AccessRules {
  try {
    return parseAccessRules(input);
  } catch (error) {
    if (!(error instanceof AccessRulesError)) throw error;
    throw new AccessConfigError(`${from}${where}: ${error.message} See docs/roles.md for the rules' format.`);
  }
}

/** The JSON text the variable holds (the file's, for `ACCESS_RULES_FILE`), its size checked. */
function readText(env: NodeJS.ProcessEnv): { from: AccessVariable; text: string } | undefined {
  const inline = env.ACCESS_RULES?.trim();
  const file = env.ACCESS_RULES_FILE?.trim();
  if (inline && file) {
    throw new AccessConfigError('ACCESS_RULES and ACCESS_RULES_FILE are both set: set one of them (or neither).');
  }
  const tooBig = (from: AccessVariable, bytes: number) =>
    new AccessConfigError(`${from} holds ${bytes} bytes; at most ${MAX_ACCESS_RULES_BYTES}.`);
  if (inline) {
    const bytes = Buffer.byteLength(inline);
    if (bytes > MAX_ACCESS_RULES_BYTES) throw tooBig('ACCESS_RULES', bytes);
    return { from: 'ACCESS_RULES', text: inline };
  }
  if (!file) return undefined;
  let text: string;
  try {
    const { size } = statSync(file);
    if (size > MAX_ACCESS_RULES_BYTES) throw tooBig('ACCESS_RULES_FILE', size);
    text = readFileSync(file, 'utf8');
  } catch (error) {
    if (error instanceof AccessConfigError) throw error;
    const reason = (error as { code?: string }).code ?? (error as Error).message;
    throw new AccessConfigError(
      `ACCESS_RULES_FILE names ${JSON.stringify(file)}, which cannot be read (${reason}). Give the path of a JSON file, relative to the directory the app starts in, or unset it.`,
    );
  }
  // The file may have grown between the two calls.
  if (Buffer.byteLength(text) > MAX_ACCESS_RULES_BYTES) throw tooBig('ACCESS_RULES_FILE', Buffer.byteLength(text));
  return { from: 'ACCESS_RULES_FILE', text };
}

/**
 * Reads `ACCESS_RULES` or `ACCESS_RULES_FILE` (an empty variable counts as unset): `undefined` when
 * neither is set. Throws `AccessConfigError` naming the variable, the organization and each problem.
 */
export function readAccessConfig(env: NodeJS.ProcessEnv): AccessConfig | undefined {
  const source = readText(env);
  if (!source) return undefined;
  const { from, text } = source;
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (error) {
    throw new AccessConfigError(`${from} is not JSON: ${(error as Error).message}.`);
  }
  if (!isObject(json)) {
    throw new AccessConfigError(
      `${from} must hold a JSON object: one rule set ({ "defaultRoles": […], "rules": […] }) or { "default": …, "organizations": { "org_…": … } }.`,
    );
  }
  if (!Object.hasOwn(json, 'organizations') && !Object.hasOwn(json, 'default')) {
    return { from, default: ruleSet(from, '', json), organizations: new Map() };
  }

  const extra = Object.keys(json).filter((key) => key !== 'default' && key !== 'organizations');
  if (extra.length > 0) {
    throw new AccessConfigError(
      `${from} has ${extra.map((key) => JSON.stringify(key.slice(0, 64))).join(', ')} next to "default" or "organizations": with per-organization rules, put the rule set for every other organization under "default".`,
    );
  }
  const organizations = new Map<string, AccessRules>();
  const named = json.organizations ?? {};
  if (!isObject(named)) {
    throw new AccessConfigError(`${from}: "organizations" must be an object of rule sets by organization id.`);
  }
  const ids = Object.keys(named);
  if (ids.length > MAX_ACCESS_ORGANIZATIONS) {
    throw new AccessConfigError(
      `${from} names ${ids.length} organizations; at most ${MAX_ACCESS_ORGANIZATIONS}. Keep larger mappings in the store (engine.access.putRules).`,
    );
  }
  for (const id of ids) {
    if (!ORGANIZATION_ID.test(id) || RESERVED.has(id)) {
      throw new AccessConfigError(
        `${from}: ${JSON.stringify(id.slice(0, 80))} under "organizations" is not an organization id such as org_123 (letters, digits, _ and -; at most 64; not __proto__, constructor or prototype).`,
      );
    }
    organizations.set(id, ruleSet(from, `, organization ${id}`, named[id]));
  }
  const fallback = json.default === undefined ? undefined : ruleSet(from, ', default', json.default);
  return { from, default: fallback, organizations };
}

/** The rule set of `organizationId` under the mapping, `undefined` for none. */
export function accessRulesOf(access: AccessConfig, organizationId: string): AccessRules | undefined {
  return access.organizations.get(organizationId) ?? access.default;
}

/**
 * `createEngine({ access })` for the mapping: the rules come from it (`ACCESS_RULES` set), or, with
 * no mapping configured, from the store (`engine.access.putRules`). Either way access is on, so
 * `accessChanged` is called.
 */
export function accessOptions(config: { readonly access: AccessConfig | undefined }): AccessOptions {
  const { access } = config;
  return access ? { rules: (organizationId) => accessRulesOf(access, organizationId) } : {};
}

/** What the settings page shows of an organization's mapping. */
export interface AccessView {
  /** The rules that apply, `null` for none. */
  readonly rules: AccessRules | null;
  /** Where they come from: the variable, or `store` (`engine.access.putRules`). */
  readonly from: AccessVariable | 'store';
  /** The organization's groups as the mirror holds them, the first `ACCESS_VIEW_GROUPS` by id. */
  readonly groups: readonly DirectoryGroup[];
  /** How many groups the organization has in all. */
  readonly groupCount: number;
}

/** The most groups the settings page lists (the count covers all). */
export const ACCESS_VIEW_GROUPS = 500;

/**
 * The settings page's reader of an organization's mapping: `createAdmin({ access: accessView(engine, config) })`.
 * Reads the groups from the engine's mirror, which holds each group's name and external id.
 */
export function accessView(
  engine: Pick<ProvisioningEngine, 'store' | 'access'>,
  config: { readonly access: AccessConfig | undefined },
): (organizationId: string) => Promise<AccessView> {
  const { access } = config;
  return async (organizationId) => {
    const [rules, groups, groupCount] = await Promise.all([
      access
        ? (accessRulesOf(access, organizationId) ?? null)
        : engine.access
          ? engine.access.getRules(organizationId).then((stored) => stored.rules)
          : null,
      engine.store.listGroups(organizationId, { limit: ACCESS_VIEW_GROUPS }),
      engine.store.countGroups(organizationId),
    ]);
    return { rules, from: access ? access.from : 'store', groups, groupCount };
  };
}
