export const runtime = 'nodejs';
export const dynamic = 'force-dynamic';

export function GET() {
  return Response.json({ verified: globalThis[Symbol.for('bench.next-bare')]?.verified ?? 0 });
}
