// Whether a new version answers: on its own published port (health-gated
// start) and through Caddy (after the route moved). Its own module because
// deploy and wake both wait on the same probes, with the same back-off.
import { request as httpRequest } from "node:http";
import type Docker from "dockerode";
import { durationMs } from "../../config/schema.ts";
import type { DeploySpec } from "../types.ts";
import type { CaddyClient } from "./caddy.ts";
import type { DockerContext } from "./context.ts";
import { messageOf } from "./engine-errors.ts";

/** Polls the container's health path on its published port until 2xx/3xx, it dies, or startupTimeout passes. */
export async function waitHealthy(
  c: Docker.Container,
  spec: DeploySpec,
  signal: AbortSignal | undefined,
): Promise<{ ok: true; upstream: string } | { ok: false; reason: string }> {
  const hc = spec.healthcheck;
  const deadline = Date.now() + durationMs(hc.startupTimeout);
  const probeTimeout = Math.min(durationMs(hc.timeout), 5000);
  let last = "no answer yet";
  let attempt = 0;
  for (;;) {
    signal?.throwIfAborted();
    const info = await c.inspect();
    const s = info.State;
    if (s.Status === "exited" || s.Status === "dead" || s.Restarting || info.RestartCount > 0) {
      return { ok: false, reason: "exited" };
    }
    const upstream = upstreamOf(info, spec.port);
    if (upstream) {
      try {
        const status = await httpGet(upstream, hc.path, probeTimeout);
        if (status >= 200 && status < 400) return { ok: true, upstream };
        last = `GET ${hc.path} answered ${status}`;
      } catch (err) {
        last = `GET ${hc.path} failed: ${messageOf(err)}`;
      }
    }
    if (Date.now() > deadline) {
      return {
        ok: false,
        reason: `the new version did not answer GET ${hc.path} with 2xx or 3xx on port ${spec.port} within ${hc.startupTimeout} (${last})`,
      };
    }
    // Fast polls first (most apps start in well under a second), then at most twice a second.
    await sleep(Math.min(25 * 2 ** attempt++, 500), signal);
  }
}

/**
 * Where Caddy dials a web container: its port published on 127.0.0.1, or on an internal network
 * (egress none), where the engine publishes none, its own address on the bridge (egress.ts).
 */
export function upstreamOf(info: Docker.ContainerInspectInfo, port: number): string | undefined {
  const hostPort = info.NetworkSettings.Ports?.[`${port}/tcp`]?.find(
    (b) => b.HostIp === "127.0.0.1",
  )?.HostPort;
  if (hostPort) return `127.0.0.1:${hostPort}`;
  const ip = info.NetworkSettings.Networks?.[info.HostConfig.NetworkMode ?? ""]?.IPAddress;
  return ip ? `${ip}:${port}` : undefined;
}

/** Probes every hostname through Caddy until the new deployment answers. */
export async function waitRouted(
  ctx: DockerContext,
  spec: DeploySpec,
  deployId: string,
  signal: AbortSignal | undefined,
): Promise<{ ok: true } | { ok: false; reason: string }> {
  const deadline = Date.now() + ctx.routeTimeoutMs;
  for (const host of spec.hostnames) {
    let last: string;
    for (;;) {
      signal?.throwIfAborted();
      try {
        const r = await ctx.caddy.probe(host, spec.healthcheck.path, 5000);
        if (r.status >= 200 && r.status < 400 && r.deployId === deployId) break;
        last = `answered ${r.status}${r.deployId && r.deployId !== deployId ? " from the previous version" : ""}`;
      } catch (err) {
        last = messageOf(err);
        // A new real domain has no certificate until Caddy's ACME order completes (no TLS handshake yet):
        // then the route as Caddy holds it is the proof.
        if (ctx.caddy.usesTls(host) && (await routeHolds(ctx.caddy, host, deployId))) break;
      }
      if (Date.now() > deadline) {
        return {
          ok: false,
          reason: `the new version is healthy but http://${host}${spec.healthcheck.path} through Caddy ${last} (check Caddy's logs)`,
        };
      }
      await sleep(50, signal);
    }
  }
  return { ok: true };
}

async function routeHolds(caddy: CaddyClient, host: string, deployId: string): Promise<boolean> {
  const routes = await caddy.routes().catch(() => []);
  return routes.some((r) => r.deployId === deployId && r.hostnames.includes(host));
}

/** The status of GET <path> on 127.0.0.1:<port>; rejects on no answer within `timeoutMs`. */
export function httpGet(hostPort: string, path: string, timeoutMs: number): Promise<number> {
  const [host, port] = hostPort.split(":") as [string, string];
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      {
        host,
        port: Number(port),
        path,
        method: "GET",
        timeout: timeoutMs,
        agent: false,
        headers: { "user-agent": "paas-health" },
      },
      (res) => {
        res.resume();
        res.on("end", () => resolve(res.statusCode ?? 0));
      },
    );
    req.on("timeout", () => req.destroy(new Error(`no answer within ${timeoutMs} ms`)));
    req.on("error", reject);
    req.end();
  });
}

/** Waits `ms`, or rejects with the signal's reason when it aborts first. */
export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(signal.reason);
    const t = setTimeout(() => {
      signal?.removeEventListener("abort", onAbort);
      resolve();
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      reject(signal!.reason);
    };
    signal?.addEventListener("abort", onAbort, { once: true });
  });
}
