import { connect, createServer, type Server, type Socket } from 'node:net';

/**
 * A TCP proxy to Redis that can stop forwarding without closing anything: what a network
 * partition looks like to one app (its connections stay up, no reply comes, no error either)
 * while other apps still reach Redis directly. Bytes sent meanwhile are held, not dropped,
 * so after `thaw()` every connection carries on where it stopped.
 */
export class FreezableProxy {
  private readonly sockets = new Set<Socket>();
  private frozen = false;

  private constructor(
    private readonly server: Server,
    readonly port: number,
  ) {}

  /** Listens on a free local port, forwarding to `target` (host:port of a Redis). */
  static async start(target: { host: string; port: number }): Promise<FreezableProxy> {
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const proxy = new FreezableProxy(server, (server.address() as { port: number }).port);
    server.on('connection', (client: Socket) =>
      proxy.track(client, connect(target.port, target.host)),
    );
    return proxy;
  }

  /** `redis://` URL of the proxy. */
  get url(): string {
    return `redis://127.0.0.1:${this.port}`;
  }

  /** Stops forwarding in both directions; connections stay open. */
  freeze(): void {
    this.frozen = true;
    for (const socket of this.sockets) socket.pause();
  }

  /** Forwards again, starting with what was held. */
  thaw(): void {
    this.frozen = false;
    for (const socket of this.sockets) socket.resume();
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private track(client: Socket, upstream: Socket): void {
    for (const [from, to] of [
      [client, upstream],
      [upstream, client],
    ]) {
      this.sockets.add(from);
      if (this.frozen) from.pause();
      from.on('data', (chunk) => to.write(chunk));
      from.on('error', () => to.destroy());
      from.on('close', () => {
        this.sockets.delete(from);
        to.destroy();
      });
    }
  }
}
