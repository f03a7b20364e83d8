/**
 * One port, two protocols, as Scalekit's environment URL serves them: gRPC over cleartext HTTP/2
 * (prior knowledge) and HTTP/1.1 for `/oauth/token`. Node's cleartext `http2` server refuses
 * HTTP/1.1 even with `allowHTTP1`, so a `net` server reads the first bytes of each connection and
 * hands the socket to an `http2` or an `http` server depending on the HTTP/2 connection preface.
 */
import http, { type IncomingMessage, type ServerResponse } from 'node:http';
import http2, { type Http2ServerRequest, type Http2ServerResponse } from 'node:http2';
import net from 'node:net';

const HTTP2_PREFACE = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');

export interface DualProtocolServerOptions {
  port: number;
  host: string;
  http2Handler: (request: Http2ServerRequest, response: Http2ServerResponse) => void;
  http1Handler: (request: IncomingMessage, response: ServerResponse) => void;
}

export interface DualProtocolServer {
  port: number;
  /** Stops listening and destroys every open connection (clients keep HTTP/2 sessions idle for minutes). */
  close(): Promise<void>;
}

export function listenDualProtocol(options: DualProtocolServerOptions): Promise<DualProtocolServer> {
  const h2 = http2.createServer({}, options.http2Handler);
  const h1 = http.createServer(options.http1Handler);
  const sockets = new Set<net.Socket>();

  const dispatch = (socket: net.Socket): void => {
    let head: Buffer = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = head.length === 0 ? chunk : Buffer.concat([head, chunk]);
      const n = Math.min(head.length, HTTP2_PREFACE.length);
      const http2Preface = head.subarray(0, n).equals(HTTP2_PREFACE.subarray(0, n));
      if (http2Preface && head.length < HTTP2_PREFACE.length) return;
      socket.removeListener('data', onData);
      // Put the bytes back. The http parser reads them from the stream once resumed; the http2
      // session reads the native handle directly but drains what is buffered first (Node ≥ 15),
      // so its socket must stay paused or the flowing stream would swallow the first frames.
      socket.pause();
      socket.unshift(head);
      if (http2Preface) {
        h2.emit('connection', socket);
      } else {
        h1.emit('connection', socket);
        socket.resume();
      }
    };
    socket.on('data', onData);
  };

  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    // A client vanishing mid-request is not the fake's problem.
    socket.on('error', () => {});
    dispatch(socket);
  });

  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port, options.host, () => {
      server.removeListener('error', reject);
      const address = server.address() as net.AddressInfo;
      resolve({
        port: address.port,
        close: () =>
          new Promise<void>((done) => {
            server.close(() => done());
            for (const socket of sockets) socket.destroy();
          }),
      });
    });
  });
}
