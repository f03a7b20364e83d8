/**
 * One request sent with `node:http`, so a conformance test can stream a body chunk by chunk (with or
 * without `Content-Length`) and see an early answer while still sending: how a server refuses an
 * oversized body while reading it. Shared by the webhook and the SCIM mount suites.
 */
import { request as httpRequest } from 'node:http';

export interface StreamingAnswer {
  status: number;
  contentType: string | undefined;
  /** The parsed JSON body, the text when it is not JSON, `undefined` when empty. */
  body: unknown;
  /** Body bytes the client had written when the answer arrived. */
  bytesWritten: number;
}

/** The JSON in `text`, else `text` itself (`undefined` when empty). */
export function parseBody(text: string): unknown {
  if (text === '') return undefined;
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** Sends `chunk` repeatedly up to `total` bytes; writing stops at the answer, at `total`, or on error. */
export function sendStreaming(
  url: string,
  method: string,
  headers: Record<string, string>,
  chunks: { chunk: Buffer; total: number },
): Promise<StreamingAnswer> {
  return new Promise((resolve, reject) => {
    let written = 0;
    let answered = false;
    const req = httpRequest(url, { method, headers }, (res) => {
      answered = true;
      const bytesWritten = written;
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (part) => {
        text += part;
      });
      res.on('end', () => {
        resolve({
          status: res.statusCode ?? 0,
          contentType: res.headers['content-type'],
          body: parseBody(text),
          bytesWritten,
        });
        req.destroy();
      });
    });
    req.on('error', (error) => {
      if (!answered) reject(error);
    });
    const pump = () => {
      while (!answered && written < chunks.total) {
        const part = chunks.chunk.subarray(0, Math.min(chunks.chunk.length, chunks.total - written));
        written += part.length;
        if (!req.write(part)) {
          req.once('drain', pump);
          return;
        }
      }
      if (!answered) req.end();
    };
    pump();
  });
}
