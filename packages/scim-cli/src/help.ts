/** The `--help` texts: one per command and the overview. The README's command reference follows them. */

const EXIT_CODES = `Exit codes
  0    completed (trigger: the endpoint answered 2xx)
  1    failed: a Scalekit, database, store or handler error (trigger: a non-2xx answer or none)
  2    usage or configuration error; nothing ran
  3    reconcile: the deprovisioning guard tripped (its reason is printed); rerun with --force
  4    reconcile, backfill: another run of this organization is in progress
  130  interrupted by SIGINT/SIGTERM (reconcile keeps its checkpoint and resumes next time)`;

const MAIN = `scim-sync: keep your app's users in step with a Scalekit directory

Usage
  scim-sync <command> [options]
  scim-sync <command> --help

Commands
  reconcile       compare Scalekit's Directory API with your app's store and apply the differences
  backfill        apply the directory events of a gap (lost webhooks) from Scalekit's Events API
  migrate         create the tables of the PostgreSQL, MySQL or SQLite store, or apply pending migrations
  inbox           the durable webhook inbox: its depth, its dead letters, and replaying them
  status          each organization's health: last webhook, lag, last reconciliation and backfill, failures
  fake-scalekit   run a local fake Scalekit, seeded with users and groups, for development
  trigger         send one signed Scalekit webhook event to your endpoint (like \`stripe trigger\`)
  secret          print a fresh webhook signing secret (whsec_…) for a local app and trigger
  scim-token      create a SCIM bearer token for one organization's identity provider
  roles           preview who would gain and lose app roles under an organization's access rules

Options
  -h, --help      show this help
  -v, --version   print the version

${EXIT_CODES}`;

const RECONCILE = `Usage
  scim-sync reconcile --organization <id> [options]

Lists the organization's directory through Scalekit's Directory API, compares it with what your
app's store holds, and feeds only the differences through your handlers (the same engine as the
webhook route). See the reconciliation guide of @org/scim-core.

Options
  -o, --organization <id>   the organization (default: $SCIM_SYNC_ORGANIZATION_ID)
      --directory <id>      a directory other than the organization's primary one
      --mode <full|incremental>
                            full (default) lists everything and removes what is gone;
                            incremental lists what changed since the last completed run, removes nothing
      --dry-run             print the plan; change nothing (no handler runs, no lock is taken)
      --force               apply removals even when the deprovisioning guard objects
      --json                print exactly the JSON report on stdout (progress stays on stderr)
      --page-size <n>       users or groups per Directory API page (default 100)
      --config <file.mjs>   an ES module whose default export is
                            { engine?, store?, handlers?, reconciler? }: your app's engine, or its
                            store and handlers, and reconciler options (guard, concurrency, …)
      --schema <name>       with DATABASE_URL and no --config: the store's PostgreSQL schema
                            (default scim_sync)
  -h, --help                show this help

Environment
  SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET   required
  DATABASE_URL   without --config, for --dry-run only: the plan against what your app recorded in
                 postgresStore() (@org/scim-postgres) on this database. Without --dry-run the
                 command refuses (exit 2): no handler of your app would run, so the changes would
                 be recorded as done and never reach your app. Apply them with --config.
                 PostgreSQL only: for a mysql:// or sqlite: store, pass --config with your app's module.
  Without --config or DATABASE_URL the store is an empty memoryStore(): every user shows as new,
  so the run previews a first sync.

${EXIT_CODES}`;

const BACKFILL = `Usage
  scim-sync backfill (--organization <id> | --all) --config <file.mjs> [options]

Reads the organization's directory events from Scalekit's Events API, from where the last backfill
got to (minus 10 minutes) or an hour back on the first run, and applies them oldest first through
your app's engine, as the webhooks would have arrived: what a webhook already applied is dropped by
the ledger, what is older than your store's state is skipped. A failed run's window is listed again
by the next. See the backfill guide of @org/scim-core.

Options
  -o, --organization <id>   the organization (default: $SCIM_SYNC_ORGANIZATION_ID)
      --all                 every organization the environment lists, one after another
      --since <date-time>   list from this instant instead of the stored cursor
      --json                print exactly the JSON report (an array with --all) on stdout
      --page-size <n>       events per Events API page (default 100; Scalekit caps it at 100)
      --config <file.mjs>   required: an ES module whose default export is
                            { engine?, store?, handlers? }: your app's engine, or its store and
                            handlers (without them the events would be recorded and never reach your app)
  -h, --help                show this help

Environment
  SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET   required (SDK 2.11 or later)

${EXIT_CODES}`;

const MIGRATE = `Usage
  scim-sync migrate [--schema <name> | --table-prefix <prefix>]

Applies the migrations the store at DATABASE_URL lacks, each once, and is safe while app instances
migrate too (the same as store.migrate()). Prints the versions it applied, or that the store is up
to date. The store's package is your app's dependency: run it from your app.
  postgres://  @org/scim-postgres: creates the schema, each migration in its own transaction,
               recorded in <schema>.scim_migrations
  mysql://     @org/scim-mysql (MySQL 8, MariaDB 10.11+): creates the tables <prefix>ledger, …
               in the URL's database, recorded in <prefix>migrations
  sqlite:      @org/scim-sqlite: the same tables in the file, which it creates if missing (not
               its folder); run it while the app is stopped, or let the app's store migrate

Options
      --schema <name>           PostgreSQL: the schema holding scim-sync's tables (default scim_sync)
      --table-prefix <prefix>   MySQL, SQLite: the prefix of scim-sync's table names (default scim_)
  -h, --help                    show this help

Environment
  DATABASE_URL   required: postgres://user:password@host:5432/database,
                 mysql://user:password@host:3306/database, or sqlite: and the file your app's
                 sqliteStore({ filename }) opens: sqlite:./scim-sync.db (relative to the current
                 directory, as the app resolves its own) or sqlite:///srv/app/scim-sync.db

${EXIT_CODES}`;

const FAKE_SCALEKIT = `Usage
  scim-sync fake-scalekit [options]

Starts a fake Scalekit on 127.0.0.1 that the real @scalekit-sdk/node client talks to, adds an
organization with a directory, seeds it, and prints the environment an app needs (dotenv lines
on stdout, then "# ready"). Runs until SIGINT or SIGTERM.

Options
      --port <p>            the port (default 0: a free one)
      --users <n>           users to seed (default 100)
      --groups <n>          groups to seed (default 5)
  -o, --organization <id>   the organization's id (default: a generated org_…)
      --webhook-url <url>   simulate directory activity: every --interval, change one user
                            (create, update, move to another group, deactivate, in turn) and
                            deliver the signed webhooks to <url>, --changes times in all
      --interval <ms>       time between simulated changes (default 2000)
      --changes <n>         how many simulated changes before it stops changing (default 20)
  -h, --help                show this help

Output (stdout)
  SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET, SCALEKIT_WEBHOOK_SECRET,
  SCIM_SYNC_ORGANIZATION_ID, SCIM_SYNC_DIRECTORY_ID, then "# ready …" once it is listening.

${EXIT_CODES}`;

const TRIGGER = `Usage
  scim-sync trigger <event type> --url <webhook url> [options]

Builds a realistic Scalekit event of that type about one user, group or directory, applies --data
overrides to its data, signs it (Standard Webhooks) and POSTs it; prints the event id, the
organization, directory, user and group ids it used, the HTTP status and the response body.

It remembers what it sent in a state file (--state), per organization: the directory, each user
and group as last sent (ids, e-mail or display name, name, groups, every other field) and the newest
occurred_at. So the next event is about the same user with the same ids, starts from what was last
sent (groups and fields stay unless told), and is always newer (never stale):
  scim-sync trigger user_created --url <url> -d email=ada@example.com
  scim-sync trigger user_updated --url <url> -d email=ada@example.com -d name.given=Augusta
  scim-sync trigger user_deleted --url <url> -d email=ada@example.com

Which user or group
  user events   --user <id> or -d id=…, else -d email=… (the user last sent with it), else
                user_created: a new user; user_updated, user_deleted: the last user sent
  group events  --group <id> or -d id=…, else -d display_name=…, else group_created: a new
                group; group_updated, group_deleted: the last group sent
  One the state file does not know is sent as new, with fresh ids (and a note on stderr).

Event types (short or full name)
  user_created        organization.directory.user_created
  user_updated        organization.directory.user_updated
  user_deleted        organization.directory.user_deleted
  group_created       organization.directory.group_created
  group_updated       organization.directory.group_updated
  group_deleted       organization.directory.group_deleted
  directory_enabled   organization.directory_enabled
  directory_disabled  organization.directory_disabled

Options
      --url <url>              the webhook endpoint (required)
      --secret <whsec_…>       the signing secret (default: $SCALEKIT_WEBHOOK_SECRET); for an app on
                               your machine, make one with scim-sync secret
  -o, --organization <id>      the organization (default: $SCIM_SYNC_ORGANIZATION_ID, else the one
                               of the last trigger, else a new org_…)
      --directory <id>         the directory (default: $SCIM_SYNC_DIRECTORY_ID, else the one
                               remembered for the organization, else a new dir_…)
      --user <id>              the user of a user event
      --group <id>             the group of a group event
      --groups <ids or names>  user_created, user_updated: the user's groups, comma-separated ids or
                               display names (an unknown name is a new group); --groups '' for
                               none. Default: the groups it had (a new user: Engineering)
  -d, --data <key=value>       set a field of data; repeatable. Dotted keys reach into objects
                               (address.locality=Oslo); values that parse as JSON are JSON
                               (active=false, roles='[{"role_name":"admin"}]'), others are strings
                               (quote a number to keep it a string: employee_id='"42"').
                               In user events name.given, name.family and name.formatted mean
                               given_name, family_name and name
      --state <file>           the state file (default: .scim-sync/trigger-state.json in the
                               current directory; written atomically, mode 0600)
      --no-state               read and remember nothing: fresh ids unless given
      --json                   print one JSON object on stdout: { eventId, type, organizationId,
                               directoryId, userId?, groupIds?, groupId?, email?, status, body }
  -h, --help                   show this help

${EXIT_CODES}`;

const SECRET = `Usage
  scim-sync secret [--json]

Prints a fresh webhook signing secret, whsec_ and the base64 of 32 random bytes (the Standard
Webhooks form Scalekit's dashboard shows), for an app on your machine: start the app with it and
sign with it. On stderr, how:
  SCALEKIT_WEBHOOK_SECRET=whsec_… npm start
  npx scim-sync trigger user_created --url http://127.0.0.1:3000/webhooks/scalekit --secret whsec_…
A deployed app verifies with the secret of its endpoint in the Scalekit dashboard instead.

Options
      --json                   print { "secret": "whsec_…" } on stdout
  -h, --help                   show this help

${EXIT_CODES}`;

const SCIM_TOKEN = `Usage
  scim-sync scim-token create --organization <id> [--json]

Creates a SCIM bearer token (scim_ and 256 random bits) for the identity provider of one
organization, and prints it once on stdout: paste it into Okta's or Entra's provisioning settings.
It is stored nowhere. On stderr, the entry to keep instead, the token's SHA-256 digest:
  <organization id>=sha256:…
Add it to SCIM_TOKENS (the examples read one or more per organization; a token sees only its own
organization), or store organizationId and tokenHash in your own table and pass them to
scimTokenAuthenticator() of @org/scim-core. To rotate, create another, then remove the old entry.

Options
  -o, --organization <id>      the organization the token provisions (default: $SCIM_SYNC_ORGANIZATION_ID)
      --json                   print { organizationId, token, tokenHash, entry } on stdout
  -h, --help                   show this help

${EXIT_CODES}`;

const INBOX = `Usage
  scim-sync inbox status [--organization <id>] [--json]
  scim-sync inbox dead-letters [--organization <id>] [--after <id>] [--limit <n>] [--json]
  scim-sync inbox replay <id…> | --all [--organization <id>]

Reads the durable webhook inbox of the store at DATABASE_URL (see the inbox guide of
@org/scim-core): how many events wait, the oldest, and the dead letters (events parked after
failing the schema or every retry), each with its reason. replay queues dead letters again, their
attempts reset; the app's inbox worker applies them (the ledger still applies each event once).
Replay after deploying the fix that the reason calls for.

Options
  -o, --organization <id>     only this organization
      --json                  print JSON on stdout
      --after <id>            dead-letters: the page after this id
      --limit <n>             dead-letters: at most this many (default 50, at most 500)
      --all                   replay: every dead letter (of --organization, when given)
      --schema <name>         PostgreSQL: the store's schema (default scim_sync)
      --table-prefix <prefix> MySQL, SQLite: the store's table prefix (default scim_)
  -h, --help                  show this help

Environment
  DATABASE_URL   required: postgres://…, mysql://… or sqlite:<file>, as for migrate (a SQLite
                 file must exist: inbox never creates one)

${EXIT_CODES}`;

const ROLES = `Usage
  scim-sync roles preview --organization <id> [--config <file.mjs> | --schema <name>] [--limit <n>] [--json]

Prints the dry run of re-evaluating one organization's app roles under its current access rules
(docs/roles.md of @org/scim-core): how many users would change, and for each (up to --limit) the
roles it would gain (+) and lose (-). Reads only: nothing is written and no handler runs. The
store is the --config module's (its engine's own rules, if it supplies them), else the PostgreSQL
store DATABASE_URL names, else an empty in-memory one. The rules are the app engine's own, else the
mapping in ACCESS_RULES or ACCESS_RULES_FILE (as the examples read it), else the store's.

Options
  -o, --organization <id>      the organization (default: $SCIM_SYNC_ORGANIZATION_ID)
      --config <file.mjs>      your app's module: default export { engine } or { store }
      --schema <name>          the PostgreSQL schema of the DATABASE_URL store (default scim_sync)
      --limit <n>              changes listed (default 50; the counts cover all)
      --json                   print the plan as JSON
  -h, --help                   show this help

${EXIT_CODES}`;

const STATUS = `Usage
  scim-sync status [--organization <id>]… [options]

Reads each organization's provisioning health from your app's store (it writes nothing): the last
Scalekit event received and the last applied, with the lag between its occurred_at and its
application; the last reconciliation and backfill (status, duration, counts with --json);
failures of the last 24 hours and the last one; and, with a --config engine that has an inbox,
its depth and dead letters. See the observability guide of @org/scim-core.

Options
  -o, --organization <id>   an organization, repeatable (default: $SCIM_SYNC_ORGANIZATION_ID; without
                            either, every organization Scalekit lists, up to 1,000)
      --json                print the health as JSON (one object for one --organization, else an array)
      --config <file.mjs>   your app's module ({ engine?, store? }): its engine's health, inbox included
      --schema <name>       with DATABASE_URL: the store's PostgreSQL schema (default scim_sync)
      --table-prefix <p>    with a mysql:// or sqlite: DATABASE_URL: the table prefix (default scim_)
  -h, --help                show this help

Environment
  DATABASE_URL   without --config: the postgresStore(), mysqlStore() or sqliteStore() database
                 to read, as for migrate (a SQLite file must exist: status never creates one)
  SCALEKIT_ENVIRONMENT_URL, SCALEKIT_CLIENT_ID, SCALEKIT_CLIENT_SECRET
                 without --organization: to list the organizations

${EXIT_CODES}`;

export const HELP = {
  main: MAIN,
  status: STATUS,
  reconcile: RECONCILE,
  backfill: BACKFILL,
  migrate: MIGRATE,
  inbox: INBOX,
  'fake-scalekit': FAKE_SCALEKIT,
  trigger: TRIGGER,
  secret: SECRET,
  'scim-token': SCIM_TOKEN,
  roles: ROLES,
} as const;

export type CommandName = Exclude<keyof typeof HELP, 'main'>;

export function isCommand(name: string): name is CommandName {
  return name !== 'main' && Object.hasOwn(HELP, name);
}
