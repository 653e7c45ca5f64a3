// Caddy's admin API as paas runs it (ensureCaddy, the real Caddy): loopback
// only, and origin enforced, so a web page in a browser on the same machine
// cannot stop Caddy or rewrite its routes with a cross-site request; paas's
// own client, which sends the admin API's origin, keeps working.
import assert from "node:assert/strict";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, request, type Server } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { adminOrigin, CaddyClient } from "../../../src/runtime/docker/caddy.ts";
import { ensureCaddy, stopCaddy } from "../../../src/runtime/docker/caddy-daemon.ts";
import { PrereqError } from "../../../src/runtime/docker/prereqs.ts";
import { freePort, startCaddy } from "../../support/caddy.ts";

/** One request with exactly these headers (a browser's cross-site request sets Origin and Host itself). */
function raw(
  url: string,
  method: string,
  headers: Record<string, string>,
  body?: string,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers, agent: false, timeout: 10_000 }, (res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body: text }));
    });
    req.on("timeout", () => req.destroy(new Error("timeout")));
    req.on("error", reject);
    req.end(body);
  });
}

describe("the admin API of the Caddy paas starts", { timeout: 120_000 }, () => {
  let dir: string;
  let adminUrl: string;
  let httpPort: number;
  let upstream: Server;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), "paas-caddy-admin-"));
    adminUrl = `http://127.0.0.1:${await freePort()}`;
    httpPort = await freePort();
    assert.equal(await ensureCaddy({ adminUrl, stateDir: dir }), "started");
    upstream = createServer((_req, res) => res.end("app"));
    await new Promise<void>((resolve) => upstream.listen(0, "127.0.0.1", resolve));
  });
  after(async () => {
    upstream?.close();
    await stopCaddy(adminUrl);
    await rm(dir, { recursive: true, force: true });
  });

  it("listens on loopback only, with origin enforcement, in the config paas writes", async () => {
    const config = JSON.parse(await readFile(join(dir, "caddy", "caddy.json"), "utf8")) as {
      admin: unknown;
    };
    assert.deepEqual(config.admin, {
      listen: new URL(adminUrl).host,
      enforce_origin: true,
      origins: [adminOrigin(adminUrl)],
    });
  });

  it("refuses cross-origin requests (Origin: http://evil.example): Caddy keeps running, its config unchanged", async () => {
    const client = new CaddyClient({ adminUrl, httpListen: `127.0.0.1:${httpPort}` });
    await client.ensureServers();
    const own = { origin: adminOrigin(adminUrl) };
    const config = (await raw(`${adminUrl}/config/`, "GET", own)).body;
    const evil = "http://evil.example";
    const attempts: [string, string, Record<string, string>, string][] = [
      // What fetch(url, { method: "POST", mode: "no-cors" }) from a page sends: a "simple" request, no preflight.
      ["/stop", "POST", { origin: evil, "content-type": "text/plain" }, ""],
      ["/load", "POST", { origin: evil, "content-type": "text/plain" }, JSON.stringify({ apps: {} })],
      [
        "/config/apps/http/servers/evil",
        "PUT",
        { origin: evil, "content-type": "application/json" },
        JSON.stringify({ listen: [":1"] }),
      ],
      // A page whose browser sends only a Referer: its origin is checked the same way.
      ["/stop", "POST", { referer: `${evil}/page`, "content-type": "text/plain" }, ""],
      // No Origin at all: refused too (paas always sends one).
      ["/stop", "POST", { "content-type": "text/plain" }, ""],
      // DNS rebinding: evil.example resolved to 127.0.0.1, the browser sends its own Host and Origin.
      ["/stop", "POST", { host: `evil.example:${new URL(adminUrl).port}`, origin: evil }, ""],
    ];
    for (const [path, method, headers, body] of attempts) {
      const res = await raw(`${adminUrl}${path}`, method, headers, body);
      assert.equal(
        res.status,
        403,
        `${method} ${path} ${JSON.stringify(headers)}: ${res.status} ${res.body}`,
      );
    }
    assert.equal((await raw(`${adminUrl}/config/`, "GET", own)).body, config, "nothing changed");
    assert.equal(await client.enforcesOrigin(), true);
  });

  it("paas's client still works: a route is set, serves, is read back and removed", async () => {
    const client = new CaddyClient({ adminUrl, httpListen: `127.0.0.1:${httpPort}` });
    await client.ping();
    await client.ensureServers();
    const dial = `127.0.0.1:${(upstream.address() as { port: number }).port}`;
    await client.setRoute({
      id: "paas-origin",
      hostnames: ["origin.localhost"],
      upstreams: [dial],
      deployId: "d1",
    });
    const served = await raw(`http://127.0.0.1:${httpPort}/`, "GET", { host: "origin.localhost" });
    assert.equal(served.body, "app");
    assert.deepEqual(
      (await client.routes()).filter((r) => r.id === "paas-origin").map((r) => r.deployId),
      ["d1"],
    );
    await client.removeRoute("paas-origin");
    assert.equal((await client.routes()).filter((r) => r.id === "paas-origin").length, 0);
  });

  it("is never started on an address other hosts can reach", async () => {
    await assert.rejects(
      ensureCaddy({ adminUrl: `http://0.0.0.0:${await freePort()}`, stateDir: dir }),
      (e: unknown) => e instanceof PrereqError && /start Caddy on that host/.test(e.message),
    );
  });
});

describe("a Caddy run without origin enforcement", { timeout: 120_000 }, () => {
  it("is detected, so `paas start` can warn", async () => {
    const caddy = await startCaddy({ enforceOrigin: false });
    try {
      const client = new CaddyClient({ adminUrl: caddy.adminUrl, httpListen: caddy.httpListen });
      assert.equal(await client.enforcesOrigin(), false);
    } finally {
      await caddy.stop();
    }
  });
});
