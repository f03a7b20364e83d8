/**
 * Every public factory checks its arguments when it is called and throws an `OptionsError` naming the
 * option and what to pass, instead of failing later with "Cannot read properties of undefined".
 */
import { ScalekitClient } from '@scalekit-sdk/node';
import { describe, expect, it } from 'vitest';
import {
  createBackfiller,
  createEngine,
  createPortalLinkHandler,
  createReconciler,
  createScalekitWebhookHandler,
  createScalekitWebhookReceiver,
  createScimServer,
  createWebhookVerifier,
  expectPortalLinkHandler,
  expectScimServer,
  expectWebhookReceiver,
  generateScimToken,
  hashScimToken,
  memoryStore,
  OptionsError,
  scalekitDirectorySource,
  scalekitEventSource,
  scimTokenAuthenticator,
  signWebhook,
  verifyWebhook,
  WebhookVerificationError,
} from '../src/index.js';

const secret = `whsec_${Buffer.from('a 32-byte secret for these tests').toString('base64')}`;
const engine = createEngine({ store: memoryStore() });
const authenticator = scimTokenAuthenticator([]);
const source = scalekitDirectorySource(new ScalekitClient('http://127.0.0.1:1', 'client', 'secret'));
const client = { organization: { generatePortalLink: async () => ({ location: 'https://example.com' }) } };

/** The `OptionsError` that `call` throws; fails the test when it throws anything else or nothing. */
function refusal(call: () => unknown): OptionsError {
  try {
    call();
  } catch (error) {
    if (error instanceof OptionsError) return error;
    throw error;
  }
  throw new Error('expected an OptionsError, but the call succeeded');
}

/** A wrong value, passed where TypeScript would refuse it: what a JavaScript caller can do. */
const bad = <T>(value: unknown): T => value as T;

interface Row {
  readonly name: string;
  readonly factory: string;
  readonly call: () => unknown;
  /** The issue's path, as the message prints it. */
  readonly path: string;
  /** What its message must say. */
  readonly says: RegExp;
}

const rows: Row[] = [
  // createEngine
  {
    name: 'createEngine without options',
    factory: 'createEngine',
    call: () => createEngine(bad(undefined)),
    path: 'options',
    says: /^is missing: pass \{ store, handlers \}$/,
  },
  {
    name: 'createEngine without a store',
    factory: 'createEngine',
    call: () => createEngine(bad({})),
    path: 'options.store',
    says: /^is missing: pass a ProvisioningStore: memoryStore\(\) from @org\/scim-core, postgresStore/,
  },
  {
    name: 'createEngine with the store factory instead of a store',
    factory: 'createEngine',
    call: () => createEngine({ store: bad(memoryStore) }),
    path: 'options.store',
    says: /got a function memoryStore: call it$/,
  },
  {
    name: 'createEngine with a store lacking transaction',
    factory: 'createEngine',
    call: () => {
      const partial = Object.create(memoryStore());
      partial.transaction = undefined;
      return createEngine({ store: partial });
    },
    path: 'options.store',
    says: /^is not a whole ProvisioningStore: it has no transaction \(/,
  },
  {
    name: 'createEngine with a misspelt handler',
    factory: 'createEngine',
    call: () => createEngine({ store: memoryStore(), handlers: bad({ userCreate: () => {} }) }),
    path: 'options.handlers.userCreate',
    says: /^is not a handler: did you mean userCreated\?$/,
  },
  {
    name: 'createEngine with a handler name nothing resembles',
    factory: 'createEngine',
    call: () => createEngine({ store: memoryStore(), handlers: bad({ onEverything: () => {} }) }),
    path: 'options.handlers.onEverything',
    says: /^is not a handler; the known ones are userCreated, userUpdated, .*otherEvent\.$/,
  },
  {
    name: 'createEngine with a handler that is not a function',
    factory: 'createEngine',
    call: () => createEngine({ store: memoryStore(), handlers: bad({ userUpdated: 'sync' }) }),
    path: 'options.handlers.userUpdated',
    says: /^must be a function, got "sync"$/,
  },
  {
    name: 'createEngine with handlers that are not an object',
    factory: 'createEngine',
    call: () => createEngine({ store: memoryStore(), handlers: bad([() => {}]) }),
    path: 'options.handlers',
    says: /^must be an object of functions .*got an array of 1$/,
  },
  {
    name: 'createEngine with a fractional lease',
    factory: 'createEngine',
    call: () => createEngine({ store: memoryStore(), leaseMs: 1.5 }),
    path: 'options.leaseMs',
    says: /^must be a whole number of milliseconds, at least 1, got 1\.5$/,
  },

  // createScalekitWebhookReceiver
  {
    name: 'the receiver without options',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver(bad(undefined)),
    path: 'options',
    says: /^is missing: pass \{ engine, secret \}$/,
  },
  {
    name: 'the receiver without an engine',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver(bad({ secret })),
    path: 'options.engine',
    says: /^is missing: pass the engine from createEngine\(\{ store, handlers \}\)$/,
  },
  {
    name: 'the receiver given the store as its engine',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine: bad(memoryStore()), secret }),
    path: 'options.engine',
    says: /^must be the engine createEngine\(\{ store, handlers \}\) returns, got a ProvisioningStore$/,
  },
  {
    name: 'the receiver given an engine promise',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine: bad(Promise.resolve(engine)), secret }),
    path: 'options.engine',
    says: /got a Promise \(await it first\)$/,
  },
  {
    name: 'the receiver with an empty secret',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret: '' }),
    path: 'options.secret',
    says: /^is empty: pass your Scalekit endpoint's signing secret \(whsec_…\)/,
  },
  {
    name: 'the receiver with a secret that is not a string',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret: bad(42) }),
    path: 'options.secret',
    says: /^must be a string \(whsec_…\), or an array of them while rotating, got 42$/,
  },
  {
    name: 'the receiver with a malformed secret',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret: 'not-a-secret!' }),
    path: 'options.secret',
    says: /^is not a Scalekit signing secret: it must be "whsec_" followed by base64, as shown in the Scalekit dashboard/,
  },
  {
    name: 'the receiver with a quoted secret',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret: `"${secret}"` }),
    path: 'options.secret',
    says: /this one has quotes or spaces around it: copy it without them\)$/,
  },
  {
    name: 'the receiver with no secrets to rotate between',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret: [] }),
    path: 'options.secret',
    says: /^is an empty array: pass your Scalekit endpoint's signing secret/,
  },
  {
    name: 'the receiver with one bad secret among several',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret: [secret, bad(null)] }),
    path: 'options.secret[1]',
    says: /^must be a string \(whsec_…\), got null$/,
  },
  {
    name: 'the receiver with a negative body cap',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret, maxBodyBytes: -1 }),
    path: 'options.maxBodyBytes',
    says: /^must be a whole number of bytes, at least 1, got -1$/,
  },
  {
    name: 'the receiver with a tolerance given as text',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret, toleranceSeconds: bad('300') }),
    path: 'options.toleranceSeconds',
    says: /^must be a number of seconds, at least 0, got "300"$/,
  },
  {
    name: 'the receiver with an onError that is not a function',
    factory: 'createScalekitWebhookReceiver',
    call: () => createScalekitWebhookReceiver({ engine, secret, onError: bad('console') }),
    path: 'options.onError',
    says: /^must be a function, got "console"$/,
  },
  {
    name: 'the handler shorthand names itself',
    factory: 'createScalekitWebhookHandler',
    call: () => createScalekitWebhookHandler(bad({ engine })),
    path: 'options.secret',
    says: /^is missing: /,
  },
  {
    name: 'the verifier without a secret',
    factory: 'createWebhookVerifier',
    call: () => createWebhookVerifier(bad({})),
    path: 'options.secret',
    says: /^is missing: .*SCALEKIT_WEBHOOK_SECRET/,
  },
  {
    name: 'one-shot verification with a negative tolerance',
    factory: 'createWebhookVerifier',
    call: () => verifyWebhook({ secret, toleranceSeconds: -1, headers: {}, payload: '' }),
    path: 'options.toleranceSeconds',
    says: /^must be a number of seconds, at least 0, got -1$/,
  },

  // createBackfiller
  {
    name: 'the backfiller without a source',
    factory: 'createBackfiller',
    call: () => createBackfiller(bad({ engine })),
    path: 'options.source',
    says: /^is missing: pass an EventLogSource: scalekitEventSource\(new ScalekitClient\(…\)\), or your own$/,
  },
  {
    name: 'the backfiller given the Scalekit client as its source',
    factory: 'createBackfiller',
    call: () => createBackfiller({ engine, source: bad(new ScalekitClient('http://127.0.0.1:1', 'a', 'b')) }),
    path: 'options.source',
    says: /got a ScalekitClient: wrap it, scalekitEventSource\(client\)$/,
  },
  {
    name: 'the backfiller with a negative overlap',
    factory: 'createBackfiller',
    call: () =>
      createBackfiller({
        engine,
        source: scalekitEventSource(new ScalekitClient('http://127.0.0.1:1', 'a', 'b')),
        overlapMs: bad(-1),
      }),
    path: 'options.overlapMs',
    says: /^must be a number of milliseconds, at least 0, got -1$/,
  },
  {
    name: 'the Scalekit event source given an SDK without the Events API',
    factory: 'scalekitEventSource',
    call: () => scalekitEventSource(bad({ directory: {}, organization: {} })),
    path: 'client',
    says: /^must be a ScalekitClient from @scalekit-sdk\/node 2\.11 or later \(it has events\.listEventsPaginated\)/,
  },

  // createReconciler
  {
    name: 'the reconciler without an engine',
    factory: 'createReconciler',
    call: () => createReconciler(bad({ source })),
    path: 'options.engine',
    says: /^is missing: pass the engine from createEngine/,
  },
  {
    name: 'the reconciler without a source',
    factory: 'createReconciler',
    call: () => createReconciler(bad({ engine })),
    path: 'options.source',
    says: /^is missing: pass a DirectorySource: scalekitDirectorySource\(new ScalekitClient\(…\)\), or your own$/,
  },
  {
    name: 'the reconciler given the Scalekit client as its source',
    factory: 'createReconciler',
    call: () => createReconciler({ engine, source: bad(new ScalekitClient('http://127.0.0.1:1', 'a', 'b')) }),
    path: 'options.source',
    says: /got a ScalekitClient: wrap it, scalekitDirectorySource\(client\)$/,
  },
  {
    name: 'the reconciler with an unknown membership mode',
    factory: 'createReconciler',
    call: () => createReconciler({ engine, source, memberships: bad('pergroup') }),
    path: 'options.memberships',
    says: /^must be 'user-groups' or 'per-group', got "pergroup"$/,
  },
  {
    name: 'the reconciler with a misspelt guard option',
    factory: 'createReconciler',
    call: () => createReconciler({ engine, source, guard: bad({ maxCont: 5 }) }),
    path: 'options.guard.maxCont',
    says: /^is not a guard option: did you mean maxCount\?$/,
  },
  {
    name: 'the reconciler with a guard share above 1',
    factory: 'createReconciler',
    call: () => createReconciler({ engine, source, guard: { maxShare: 20 } }),
    path: 'options.guard.maxShare',
    says: /^must be a share from 0 to 1, got 20$/,
  },
  {
    name: 'the reconciler with no attempts',
    factory: 'createReconciler',
    call: () => createReconciler({ engine, source, retry: { attempts: 0 } }),
    path: 'options.retry.attempts',
    says: /^must be a whole number, at least 1, got 0$/,
  },
  {
    name: 'the reconciler with a page size from an unset variable',
    factory: 'createReconciler',
    call: () => createReconciler({ engine, source, pageSize: Number(undefined) }),
    path: 'options.pageSize',
    says: /^must be a whole number, at least 1, got NaN$/,
  },
  {
    name: 'the reconciler with a negative plan limit',
    factory: 'createReconciler',
    call: () => createReconciler({ engine, source, planLimit: -1 }),
    path: 'options.planLimit',
    says: /^must be a whole number, at least 0, got -1$/,
  },

  // scalekitDirectorySource
  {
    name: 'the Scalekit source without a client',
    factory: 'scalekitDirectorySource',
    call: () => scalekitDirectorySource(bad(undefined)),
    path: 'client',
    says: /^is missing: pass new ScalekitClient\(process\.env\.SCALEKIT_ENVIRONMENT_URL, process\.env\.SCALEKIT_CLIENT_ID, process\.env\.SCALEKIT_CLIENT_SECRET\) from @scalekit-sdk\/node$/,
  },
  {
    name: 'the Scalekit source given the client class',
    factory: 'scalekitDirectorySource',
    call: () => scalekitDirectorySource(bad(ScalekitClient)),
    path: 'client',
    says: /got the class ScalekitClient \(construct it with new\)$/,
  },
  {
    name: 'the Scalekit source given an object without the calls it makes',
    factory: 'scalekitDirectorySource',
    call: () => scalekitDirectorySource(bad({ directory: { listDirectoryUsers: () => {} } })),
    path: 'client',
    says: /which has no directory\.getDirectory, directory\.getPrimaryDirectoryByOrganizationId, directory\.listDirectoryGroups, organization\.listOrganization$/,
  },
  {
    name: 'the Scalekit source with includeDetail as text',
    factory: 'scalekitDirectorySource',
    call: () =>
      scalekitDirectorySource(new ScalekitClient('http://127.0.0.1:1', 'a', 'b'), bad({ includeDetail: 'yes' })),
    path: 'options.includeDetail',
    says: /^must be true or false, got "yes"$/,
  },

  // createScimServer
  {
    name: 'the SCIM server without an authenticator',
    factory: 'createScimServer',
    call: () => createScimServer(bad({ engine })),
    path: 'options.authenticator',
    says: /^is missing: pass a ScimAuthenticator: scimTokenAuthenticator\(/,
  },
  {
    name: 'the SCIM server without an engine',
    factory: 'createScimServer',
    call: () => createScimServer(bad({ authenticator })),
    path: 'options.engine',
    says: /^is missing: pass the engine from createEngine/,
  },
  {
    name: 'the SCIM server given token entries as its authenticator',
    factory: 'createScimServer',
    call: () =>
      createScimServer({ engine, authenticator: bad([{ organizationId: 'org_a', tokenHash: hashScimToken('t') }]) }),
    path: 'options.authenticator',
    says: /got an array of 1: wrap the entries, scimTokenAuthenticator\(entries\)$/,
  },
  {
    name: 'the SCIM server with a relative base path',
    factory: 'createScimServer',
    call: () => createScimServer({ engine, authenticator, basePath: 'scim/v2' }),
    path: 'options.basePath',
    says: /^must be the path the server is mounted at, such as '\/scim\/v2', got "scim\/v2"$/,
  },
  {
    name: 'the SCIM server with a misspelt limit',
    factory: 'createScimServer',
    call: () => createScimServer({ engine, authenticator, limits: bad({ maxFilterTerm: 8 }) }),
    path: 'options.limits.maxFilterTerm',
    says: /^is not a SCIM limit: did you mean maxFilterTerms\?$/,
  },
  {
    name: 'the SCIM server with a zero limit',
    factory: 'createScimServer',
    call: () => createScimServer({ engine, authenticator, limits: { maxJsonDepth: 0 } }),
    path: 'options.limits.maxJsonDepth',
    says: /^must be a whole number, at least 1, got 0$/,
  },
  {
    name: 'the SCIM server with a schema extension whose id is not a URN',
    factory: 'createScimServer',
    call: () =>
      createScimServer({ engine, authenticator, schemaExtensions: [{ id: 'Custom', name: 'C', attributes: [] }] }),
    path: 'options.schemaExtensions[0].id',
    says: /^must be a schema URN, such as urn:ietf:params:scim:schemas:extension:CustomExtensionName:2\.0:User, got "Custom"$/,
  },
  {
    name: 'the SCIM server with an attribute named __proto__',
    factory: 'createScimServer',
    call: () =>
      createScimServer({
        engine,
        authenticator,
        schemaExtensions: [{ id: 'urn:example:custom', name: 'C', attributes: [{ name: '__proto__' }] }],
      }),
    path: 'options.schemaExtensions[0].attributes[0].name',
    says: /^must be an attribute name: a letter, then letters, digits, "_", "\$" or "-", got "__proto__"$/,
  },
  {
    name: 'the SCIM server with an attribute of an unknown type',
    factory: 'createScimServer',
    call: () =>
      createScimServer({
        engine,
        authenticator,
        schemaExtensions: [
          { id: 'urn:example:custom', name: 'C', attributes: [{ name: 'badge', type: bad('strng') }] },
        ],
      }),
    path: 'options.schemaExtensions[0].attributes[0].type',
    says: /^must be one of string, boolean, complex, reference, dateTime, integer, decimal, binary, got "strng"$/,
  },
  {
    name: 'the SCIM server with one schema declared twice',
    factory: 'createScimServer',
    call: () =>
      createScimServer({
        engine,
        authenticator,
        schemaExtensions: [
          { id: 'urn:example:custom', name: 'C', attributes: [] },
          { id: 'urn:example:CUSTOM', name: 'C', attributes: [] },
        ],
      }),
    path: 'options.schemaExtensions[1].id',
    says: /^declares urn:example:CUSTOM, which is already declared$/,
  },

  // scimTokenAuthenticator and hashScimToken
  {
    name: 'the token authenticator without entries',
    factory: 'scimTokenAuthenticator',
    call: () => scimTokenAuthenticator(bad(undefined)),
    path: 'entries',
    says: /^is missing: pass \[\{ organizationId, tokenHash: hashScimToken\(token\) \}, …\]/,
  },
  {
    name: 'the token authenticator given one token as a string',
    factory: 'scimTokenAuthenticator',
    call: () => scimTokenAuthenticator(bad('scim_token')),
    path: 'entries',
    says: /^must be a list \[\{ organizationId, tokenHash: hashScimToken\(token\) \}, …\], got a string$/,
  },
  {
    name: 'the token authenticator with an entry without an organization',
    factory: 'scimTokenAuthenticator',
    call: () => scimTokenAuthenticator([{ organizationId: '', tokenHash: hashScimToken('t') }]),
    path: 'entries[0].organizationId',
    says: /^must be the organization id the token provisions, got an empty string$/,
  },
  {
    name: 'the token authenticator with one token for two organizations',
    factory: 'scimTokenAuthenticator',
    call: () =>
      scimTokenAuthenticator([
        { organizationId: 'org_a', tokenHash: hashScimToken('shared') },
        { organizationId: 'org_b', tokenHash: hashScimToken('shared') },
      ]),
    path: 'entries[1].tokenHash',
    says: /^is also the token of org_a: a token belongs to one organization$/,
  },
  {
    name: 'hashScimToken of an unset variable',
    factory: 'hashScimToken',
    call: () => hashScimToken(bad(undefined)),
    path: 'token',
    says: /^is missing: pass the SCIM bearer token you gave the identity provider \(make one with generateScimToken\(\)\)/,
  },
  {
    name: 'hashScimToken of an empty token',
    factory: 'hashScimToken',
    call: () => hashScimToken(''),
    path: 'token',
    says: /^is empty: /,
  },
  {
    name: 'hashScimToken of a token with a line break',
    factory: 'hashScimToken',
    call: () => hashScimToken('scim_abc\n'),
    path: 'token',
    says: /^contains whitespace, which no "Authorization: Bearer <token>" header can carry/,
  },

  // createPortalLinkHandler
  {
    name: 'the portal-link route without a client',
    factory: 'createPortalLinkHandler',
    call: () => createPortalLinkHandler<Request>(bad({ authorize: () => 'org_1' })),
    path: 'options.client',
    says: /^is missing: pass new ScalekitClient\(process\.env\.SCALEKIT_ENVIRONMENT_URL, /,
  },
  {
    name: 'the portal-link route with a client that cannot make links',
    factory: 'createPortalLinkHandler',
    call: () => createPortalLinkHandler({ client: bad({ organization: {} }), authorize: () => 'org_1' }),
    path: 'options.client',
    says: /or an object with organization\.generatePortalLink, got an object with keys organization$/,
  },
  {
    name: 'the portal-link route without authorize',
    factory: 'createPortalLinkHandler',
    call: () => createPortalLinkHandler<Request>(bad({ client })),
    path: 'options.authorize',
    says: /^is missing: pass \(request\) => the organization id\(s\) the signed-in admin may manage, or null/,
  },
  {
    name: 'the portal-link route with an empty organization parameter',
    factory: 'createPortalLinkHandler',
    call: () => createPortalLinkHandler({ client, authorize: () => 'org_1', organizationParam: '' }),
    path: 'options.organizationParam',
    says: /^must be a query parameter name, such as 'organization_id', got an empty string$/,
  },

  // memoryStore
  {
    name: 'memoryStore with a retention read from the environment as text',
    factory: 'memoryStore',
    call: () => memoryStore({ ledgerRetentionMs: bad('86400000') }),
    path: 'options.ledgerRetentionMs',
    says: /^must be a whole number of milliseconds, at least 1, got "86400000"$/,
  },
  {
    name: 'memoryStore with null options',
    factory: 'memoryStore',
    call: () => memoryStore(bad(null)),
    path: 'options',
    says: /^must be an object \{ ledgerRetentionMs\? \}, got null$/,
  },

  // The checks adapters run on their arguments
  {
    name: 'a webhook route given the engine',
    factory: 'scalekitWebhook',
    call: () => expectWebhookReceiver(engine, 'scalekitWebhook'),
    path: 'receiver',
    says: /^must be the object createScalekitWebhookReceiver\(\{ engine, secret \}\) returns, got a ProvisioningEngine/,
  },
  {
    name: 'a SCIM route given the webhook receiver, which also has handle()',
    factory: 'scimRoutes',
    call: () => expectScimServer(createScalekitWebhookReceiver({ engine, secret }), 'scimRoutes'),
    path: 'server',
    says: /^must be the object createScimServer\(\{ engine, authenticator \}\) returns, got a webhook receiver/,
  },
  {
    name: 'a portal-link route given nothing',
    factory: 'adminPortalLink',
    call: () => expectPortalLinkHandler(undefined, 'adminPortalLink'),
    path: 'handler',
    says: /^is missing: pass the object createPortalLinkHandler\(\{ client, authorize \}\) returns$/,
  },
];

describe('factories refuse missing and wrong-typed options at once, naming the option', () => {
  it.each(rows)('$name', ({ factory, call, path, says }) => {
    const error = refusal(call);
    expect(error.factory).toBe(factory);
    const issue = error.issues.find((i) => i.path === path);
    expect(issue, `no issue at ${path}; issues: ${JSON.stringify(error.issues)}`).toBeDefined();
    expect(issue?.message).toMatch(says);
    expect(error.message).toContain(`${path} ${issue?.message}`);
    expect(error.message.startsWith(`${factory}: `)).toBe(true);
  });
});

describe('OptionsError', () => {
  it('is a TypeError with a code, the factory and one line per issue, the first naming the factory', () => {
    const error = refusal(() => createScalekitWebhookReceiver(bad({ secret: 7, maxBodyBytes: 0 })));
    expect(error).toBeInstanceOf(TypeError);
    expect(error.name).toBe('OptionsError');
    expect(error.code).toBe('invalid_options');
    expect(error.issues.map((i) => i.path)).toEqual(['options.engine', 'options.secret', 'options.maxBodyBytes']);
    const lines = error.message.split('\n');
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^createScalekitWebhookReceiver: options\.engine is missing: /);
    expect(lines[1]).toMatch(/^ {2}options\.secret must be a string/);
    expect(lines[2]).toMatch(/^ {2}options\.maxBodyBytes must be a whole number of bytes/);
  });

  it('names SCALEKIT_WEBHOOK_SECRET when the secret is missing, as from an unset environment variable', () => {
    const unset = process.env.SCIM_SYNC_TEST_UNSET_SECRET;
    const error = refusal(() => createScalekitWebhookReceiver({ engine, secret: unset! }));
    expect(error.message).toBe(
      "createScalekitWebhookReceiver: options.secret is missing: pass your Scalekit endpoint's signing secret (whsec_…), usually process.env.SCALEKIT_WEBHOOK_SECRET; for local testing make one with `npx scim-sync secret` (is SCALEKIT_WEBHOOK_SECRET set in this process's environment?)",
    );
  });

  it('never quotes a secret or a token it refuses', () => {
    const malformed = 'whsec_this is not base64 but it is secret';
    expect(refusal(() => createScalekitWebhookReceiver({ engine, secret: malformed })).message).not.toContain(
      'this is not',
    );
    const { token } = generateScimToken();
    const error = refusal(() => scimTokenAuthenticator([{ organizationId: 'org_a', tokenHash: token }]));
    expect(error.issues[0]).toMatchObject({ path: 'entries[0].tokenHash' });
    expect(error.message).toMatch(/use hashScimToken\(token\)/);
    expect(error.message).not.toContain(token);
  });
});

describe('what the checks accept', () => {
  it('a store whose methods are inherited, handlers on a class instance with fields of its own', () => {
    class AppHandlers {
      readonly created: string[] = [];
      userCreated({ user }: { user: { id: string } }) {
        this.created.push(user.id);
      }
    }
    expect(() => createEngine({ store: memoryStore(), handlers: new AppHandlers() })).not.toThrow();
  });

  it('a real ScalekitClient, for the source and the portal-link route', () => {
    const scalekit = new ScalekitClient('http://127.0.0.1:1', 'client', 'secret');
    expect(() => scalekitDirectorySource(scalekit)).not.toThrow();
    expect(() => createPortalLinkHandler({ client: scalekit, authorize: () => null })).not.toThrow();
  });

  it('token entries from a generator, read once', () => {
    const { token, tokenHash } = generateScimToken();
    function* entries() {
      yield { organizationId: 'org_a', tokenHash };
    }
    expect(scimTokenAuthenticator(entries()).authenticate(`Bearer ${token}`)).toBe('org_a');
  });

  it('the same digest twice for one organization', () => {
    const tokenHash = hashScimToken('t');
    expect(() =>
      scimTokenAuthenticator([
        { organizationId: 'org_a', tokenHash },
        { organizationId: 'org_a', tokenHash },
      ]),
    ).not.toThrow();
  });

  it('the low-level verifier leaves a malformed secret to its WebhookVerificationError, as before', () => {
    expect(() => createWebhookVerifier({ secret: 'whsec_not base64!' })).toThrow(WebhookVerificationError);
    expect(() => createWebhookVerifier({ secret: 'whsec_not base64!' })).toThrow(/followed by base64/);
  });

  it('several secrets while rotating, and a verifier per one-shot call', () => {
    const other = `whsec_${Buffer.from('another 32-byte secret for tests').toString('base64')}`;
    expect(() => createScalekitWebhookReceiver({ engine, secret: [secret, other] })).not.toThrow();
    const payload = '{}';
    const headers = signWebhook({ secret: other, id: 'msg_1', payload });
    expect(verifyWebhook({ secret: [secret, other], headers, payload })).toMatchObject({ id: 'msg_1' });
  });
});
