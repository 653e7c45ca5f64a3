// The last gate before an environment URL is reported: the new version must
// answer through the route users will use (Caddy, the ingress or the gateway).
// The probe sends the public Host header to PAAS_PROBE_ADDRESS (the proxy's
// address as seen from the App) or, unset, to the URL's own host.
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";

export type ProbeResult = { ok: true; status: number } | { ok: false; reason: string };

export interface Prober {
  /**
   * Answers ok once `url` + `path` returns 2xx/3xx and, when the response names
   * a commit (header `x-paas-commit`, set by the runtimes' routes), it is `sha`.
   * Retries until `timeoutMs`.
   */
  probe(
    url: string,
    path: string,
    sha: string,
    options: { timeoutMs: number; intervalMs: number; signal?: AbortSignal },
  ): Promise<ProbeResult>;
}

export const COMMIT_HEADER = "x-paas-commit";

export class HttpProber implements Prober {
  readonly #address: URL | undefined;
  constructor(probeAddress: string | undefined) {
    this.#address = probeAddress ? new URL(probeAddress) : undefined;
  }

  async probe(
    url: string,
    path: string,
    sha: string,
    o: { timeoutMs: number; intervalMs: number; signal?: AbortSignal },
  ): Promise<ProbeResult> {
    const deadline = Date.now() + o.timeoutMs;
    let last: string;
    for (;;) {
      const r = await this.#once(url, path, sha, Math.min(5000, Math.max(500, deadline - Date.now())));
      if (r.ok) return r;
      last = r.reason;
      if (Date.now() + o.intervalMs > deadline || o.signal?.aborted) return { ok: false, reason: last };
      await new Promise((res) => setTimeout(res, o.intervalMs));
    }
  }

  #once(url: string, path: string, sha: string, timeoutMs: number): Promise<ProbeResult> {
    const target = new URL(url);
    const via = this.#address ?? target;
    const secure = via.protocol === "https:";
    const port = via.port ? Number(via.port) : secure ? 443 : 80;
    return new Promise((resolve) => {
      const req = (secure ? httpsRequest : httpRequest)(
        {
          host: via.hostname.replace(/^\[|\]$/g, ""),
          port,
          method: "GET",
          path: new URL(path, target).pathname + new URL(path, target).search,
          headers: { host: target.host, "user-agent": "paas-probe" },
          // TLS: verify the certificate of the public hostname even when connecting to the proxy's address.
          ...(secure ? { servername: target.hostname } : {}),
          timeout: timeoutMs,
        },
        (res) => {
          res.resume();
          const status = res.statusCode ?? 0;
          const commit = res.headers[COMMIT_HEADER];
          if (status < 200 || status >= 400)
            return resolve({ ok: false, reason: `${target.host}${path} answered HTTP ${status}` });
          if (typeof commit === "string" && commit !== sha) {
            return resolve({
              ok: false,
              reason: `${target.host} still serves commit ${commit.slice(0, 12)}`,
            });
          }
          resolve({ ok: true, status });
        },
      );
      req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
      req.on("error", (e) => resolve({ ok: false, reason: `${target.host}: ${e.message}` }));
      req.end();
    });
  }
}
