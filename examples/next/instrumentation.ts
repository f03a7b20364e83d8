/**
 * Checks the environment once, when the server starts (Next.js calls `register()` at start-up of
 * each server process), so a bad variable (a role mapping in `ACCESS_RULES` that does not parse, a
 * missing `SCALEKIT_WEBHOOK_SECRET`) stops `next start` with its message instead of failing every
 * request. The engine and the database still open at the first request (`lib/scim.ts`).
 */
export async function register(): Promise<void> {
  // Only in the Node.js runtime (the check exits the process; no route here runs on the Edge), and
  // not while `next build` collects pages: the environment is the running server's, not the build's.
  if (process.env.NEXT_RUNTIME === 'nodejs' && process.env.NEXT_PHASE !== 'phase-production-build') {
    const { checkEnvironment } = await import('./lib/check-environment');
    checkEnvironment();
  }
}
