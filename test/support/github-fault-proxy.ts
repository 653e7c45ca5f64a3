// Sits between the App and the fake GitHub: answers chosen requests with a
// fault (GitHub's own error shapes: 403 secondary rate limit with retry-after,
// 5xx) and forwards the rest. Records every exchange, bodies included, so
// tests can show what the App retried and search everything it sent.
import { createServer, request, type Server } from "node:http";
import type { AddressInfo } from "node:net";

export interface ProxyFault {
  status: number;
  headers?: Record<string, string>;
  body?: unknown;
}

export interface ProxyExchange {
  method: string;
  /** Path with query, /api/v3 prefix included. */
  url: string;
  status: number;
  faulted: boolean;
  requestBody: string;
  responseBody: string;
}

export class GitHubFaultProxy {
  host = "";
  /** host:port of the fake GitHub (may be set after start, before the first request). */
  target = "";
  /** Decides a fault per request; undefined forwards it. */
  fault: ((method: string, path: string) => ProxyFault | undefined) | undefined;
  readonly exchanges: ProxyExchange[] = [];
  #server: Server | undefined;

  /** A 403 exactly as GitHub answers a secondary rate limit. */
  static secondaryLimit(retryAfterSec: number): ProxyFault {
    return {
      status: 403,
      headers: { "retry-after": String(retryAfterSec), "x-ratelimit-remaining": "4000" },
      body: {
        message:
          "You have exceeded a secondary rate limit. Please wait a few minutes before you try again. If you reach out to GitHub Support for help, please include the request ID.",
        documentation_url:
          "https://docs.github.com/rest/overview/rate-limits-for-the-rest-api#about-secondary-rate-limits",
      },
    };
  }

  async start(): Promise<void> {
    this.#server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        const requestBody = Buffer.concat(chunks).toString("utf8");
        const path = (req.url ?? "/").split("?")[0]!;
        const fault = this.fault?.(req.method ?? "GET", path);
        if (fault) {
          const text = JSON.stringify(fault.body ?? { message: "Server Error" });
          this.exchanges.push({
            method: req.method ?? "GET",
            url: req.url ?? "",
            status: fault.status,
            faulted: true,
            requestBody,
            responseBody: text,
          });
          res.writeHead(fault.status, {
            "content-type": "application/json; charset=utf-8",
            ...fault.headers,
          });
          res.end(text);
          return;
        }
        const [hostname, port] = this.target.split(":") as [string, string];
        const up = request(
          {
            hostname,
            port: Number(port),
            path: req.url,
            method: req.method,
            headers: { ...req.headers, host: this.target },
          },
          (answer) => {
            const body: Buffer[] = [];
            answer.on("data", (c: Buffer) => body.push(c));
            answer.on("end", () => {
              const responseBody = Buffer.concat(body);
              this.exchanges.push({
                method: req.method ?? "GET",
                url: req.url ?? "",
                status: answer.statusCode ?? 0,
                faulted: false,
                requestBody,
                responseBody: responseBody.toString("utf8"),
              });
              res.writeHead(answer.statusCode ?? 502, answer.headers).end(responseBody);
            });
          },
        );
        up.on("error", () => res.writeHead(502).end());
        up.end(requestBody);
      });
    });
    await new Promise<void>((r) => this.#server!.listen(0, "127.0.0.1", () => r()));
    this.host = `127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((r) => (this.#server ? this.#server.close(() => r()) : r()));
  }
}
