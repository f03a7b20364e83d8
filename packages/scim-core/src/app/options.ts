/**
 * The app-side factories check their arguments when called, as core's do (`../options.ts`): a
 * `users` without `listUsers`, a `config` that did not come from `loadConfig()`, or the client passed
 * where `openScalekit()`'s answer belongs fail at start-up with a sentence naming the option.
 */
import { checkArgument, checked, fn, optionsObject, type Report, validateOptions } from '../options.js';

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null;

/** `{ listUsers(organizationId), listGroups(organizationId) }`: the app's own reads. */
const directory = (value: unknown, report: Report) => {
  if (value === undefined)
    report('is missing: pass your user service, with listUsers(organizationId) and listGroups(organizationId)');
  else if (!isObject(value))
    report('must be your user service, with listUsers(organizationId) and listGroups(organizationId)');
  else
    for (const method of ['listUsers', 'listGroups'])
      if (typeof value[method] !== 'function') report(`has no ${method}(organizationId) method`, method);
};

/** What `openScalekit(config)` resolved to: `{ client }`, or `{ missing }`. */
const scalekitApi = (value: unknown, report: Report) => {
  if (value === undefined) report('is missing: pass await openScalekit(config)');
  else if (value instanceof Promise) report('is a Promise: pass await openScalekit(config)');
  else if (!isObject(value) || !(isObject(value.client) || Array.isArray(value.missing)))
    report('must be what await openScalekit(config) returns ({ client } or { missing })');
};

/** The parts of `loadConfig()`'s answer a factory reads. */
const config =
  (keys: readonly string[]) =>
  (value: unknown, report: Report): void => {
    if (!isObject(value)) {
      report('must be the configuration loadConfig() returns');
      return;
    }
    for (const key of keys) if (!(key in value)) report('is missing: pass the configuration loadConfig() returns', key);
  };

const engine = (value: unknown, report: Report) => {
  if (!isObject(value) || typeof value.process !== 'function')
    report('must be the engine createEngine({ store, handlers }) returns');
};

const adminApiOptions = optionsObject(
  {
    authorize: fn("pass your session check: (request) => the signed-in admin's organization id, or null"),
    users: checked(directory),
    sync: checked((value, report) => {
      if (!isObject(value) || (typeof value.reconcile !== 'function' && !Array.isArray(value.missing)))
        report('must be what createSync(engine, scalekit) returns');
    }),
    onServerError: fn(),
  },
  '{ authorize, users, sync }',
);

const adminOptions = optionsObject(
  {
    config: checked(config(['scim', 'demoLogin', 'sessionSecret', 'sessionTtlSeconds'])),
    users: checked(directory),
    scalekit: checked(scalekitApi),
    portalScript: fn(),
    onServerError: fn(),
    health: fn(),
    access: fn(),
  },
  '{ config, users, scalekit }',
);

export function checkAdminApiOptions(options: unknown): void {
  validateOptions('createAdminApi', adminApiOptions, options);
}

export function checkAdminOptions(options: unknown): void {
  validateOptions('createAdmin', adminOptions, options);
}

/** `createSync(engine, scalekit)` and `createScim(engine, config)`: positional arguments. */
export function checkEngineAnd(
  factory: 'createSync' | 'createScim',
  engineArgument: unknown,
  second: { name: 'scalekit' | 'config'; value: unknown },
): void {
  checkArgument(factory, 'engine', engineArgument, engine);
  checkArgument(factory, second.name, second.value, second.name === 'scalekit' ? scalekitApi : config(['scim']));
}

/** `openScalekit(config)`. */
export function checkScalekitConfig(value: unknown): void {
  checkArgument('openScalekit', 'config', value, config(['scalekitApi']));
}
