// What a visitor's browser gets from a URL on this machine: *.localhost (and the test hostnames)
// resolve to loopback, where Caddy or the cluster's gateway listens; the Host header carries the name.
import { request } from "node:http";

export interface Page {
  status: number;
  body: string;
  headers: Record<string, string | string[] | undefined>;
}

/** The status and body of GET `path` (default: the URL's own) of `url`. */
export async function browse(url: string, path?: string): Promise<{ status: number; body: string }> {
  const { status, body } = await page(url, path);
  return { status, body };
}

/** GET `path` (default: the URL's own) of `url` through the loopback listener on its port, with the headers. */
export function page(url: string, path?: string): Promise<Page> {
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: Number(u.port),
        path: path ?? u.pathname,
        headers: { host: u.host },
        // A fresh connection each time: a pooled keep-alive socket that Caddy's previous config
        // closes while routes change would reset the request (a browser retries such a request).
        agent: false,
        timeout: 10_000,
      },
      (res) => {
        let body = "";
        res.on("data", (d: Buffer) => (body += d.toString()));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body, headers: res.headers }));
      },
    );
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end();
  });
}
