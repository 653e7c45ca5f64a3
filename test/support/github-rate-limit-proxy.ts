// Sits between the App and the fake GitHub and adds the rate-limit headers
// github.com sends on every authenticated response: x-ratelimit-limit,
// -remaining, -used, -reset and -resource, counted per credential the way
// GitHub counts them (one bucket per installation token, one for the App's JWTs).
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export class RateLimitProxy {
  readonly limit: number;
  /** Remaining requests by bucket: "app" or the installation token. */
  readonly remaining = new Map<string, number>();
  /** Installation tokens seen in answers of POST /app/installations/{id}/access_tokens, by installation id. */
  readonly tokens = new Map<number, string>();
  /** Every count sent, in order, with the bucket and the request path. */
  readonly sent: { bucket: string; path: string; remaining: number }[] = [];
  readonly reset = Math.floor(Date.now() / 1000) + 3600;
  host = "";
  /** host:port of the fake GitHub (may be set after start, before the first request). */
  target: string;
  #server: Server | undefined;

  constructor(target = "", limit = 5000) {
    this.target = target;
    this.limit = limit;
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const [hostname, port] = this.target.split(":") as [string, string];
      const auth = req.headers.authorization ?? "";
      const credential = /^(?:bearer|token) (.+)$/i.exec(auth)?.[1];
      // An App JWT has three dot-separated parts; installation tokens have none.
      const bucket =
        credential === undefined ? undefined : credential.split(".").length === 3 ? "app" : credential;
      const upstream = request(
        {
          hostname,
          port: Number(port),
          path: req.url,
          method: req.method,
          headers: { ...req.headers, host: this.target },
        },
        (up) => {
          const headers: Record<string, string | string[] | number> = {};
          for (const [k, v] of Object.entries(up.headers)) if (v !== undefined) headers[k] = v;
          if (bucket !== undefined) {
            const left = Math.max(0, (this.remaining.get(bucket) ?? this.limit) - 1);
            this.remaining.set(bucket, left);
            this.sent.push({ bucket, path: req.url ?? "", remaining: left });
            Object.assign(headers, {
              "x-ratelimit-limit": this.limit,
              "x-ratelimit-remaining": left,
              "x-ratelimit-used": this.limit - left,
              "x-ratelimit-reset": this.reset,
              "x-ratelimit-resource": "core",
            });
          }
          const m = /\/app\/installations\/(\d+)\/access_tokens$/.exec(req.url ?? "");
          if (m && up.statusCode === 201) {
            // Keep the token to prove it never reaches a metric.
            const chunks: Buffer[] = [];
            up.on("data", (c: Buffer) => chunks.push(c));
            up.on("end", () => {
              const body = Buffer.concat(chunks);
              this.tokens.set(Number(m[1]), (JSON.parse(body.toString("utf8")) as { token: string }).token);
              res.writeHead(up.statusCode ?? 502, headers).end(body);
            });
            return;
          }
          res.writeHead(up.statusCode ?? 502, headers);
          up.pipe(res);
        },
      );
      upstream.on("error", () => res.writeHead(502).end());
      req.pipe(upstream);
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.host = `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
