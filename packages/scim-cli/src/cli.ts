/** The `scim-sync` bin. The shebang comes from the build (tsup's banner). */
import { runCli } from './run.js';

const code = await runCli(process.argv.slice(2));
// Exit once the output is flushed, without waiting for handles a `--config` module may have left
// open (a database pool, say): the command is over.
process.stdout.write('', () => process.stderr.write('', () => process.exit(code)));
