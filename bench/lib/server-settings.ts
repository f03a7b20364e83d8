/** What every benchmark server reads from its environment, and how it shuts down. */
import { webhookKey } from './standard-webhooks.js';

export interface ServerSettings {
  /** SCALEKIT_WEBHOOK_SECRET, a `whsec_…`. */
  secret: string;
  /** Its HMAC key, for the bare routes. */
  key: Buffer;
  /** HOST, default 127.0.0.1. */
  host: string;
  /** PORT, default 0 (any free port). */
  port: number;
  /** Runs `close` on SIGINT and SIGTERM. */
  onShutdown(close: () => void): void;
}

/** Reads the environment, or exits with a message naming the server. */
export function serverSettings(name: string): ServerSettings {
  const secret = process.env.SCALEKIT_WEBHOOK_SECRET ?? '';
  let key: Buffer;
  try {
    key = webhookKey(secret);
  } catch (error) {
    console.error(`${name}: ${(error as Error).message}`);
    process.exit(1);
  }
  return {
    secret,
    key,
    host: process.env.HOST ?? '127.0.0.1',
    port: Number(process.env.PORT ?? 0),
    onShutdown(close) {
      process.on('SIGINT', close);
      process.on('SIGTERM', close);
    },
  };
}
