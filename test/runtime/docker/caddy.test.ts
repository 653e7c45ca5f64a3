import assert from "node:assert/strict";
import { createServer, request, type Server } from "node:http";
import { after, before, describe, it } from "node:test";
import { CaddyClient, caddyRoute, isLocalHostname } from "../../../src/runtime/docker/caddy.ts";
import { freePort, startCaddy, type TestCaddy } from "../../support/caddy.ts";

type Answer = { status: number; body: string; location: string | undefined };

// Caddy applies each admin change by starting new servers on the shared
// listener and draining the old ones: a connection accepted by an old server
// at that instant is reset (seen once in CI). A visitor's browser retries;
// so does the runtime's route probe, and so does this helper, a few times.
async function retryReset<T>(send: () => Promise<T>): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await send();
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== "ECONNRESET" || attempt === 3) throw err;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

const get = (port: number, host: string): Promise<Answer> => retryReset(() => getOnce(port, host));

function getOnce(port: number, host: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = request({ host: "127.0.0.1", port, path: "/", headers: { host }, agent: false }, (res) => {
      let body = "";
      res.on("data", (d: Buffer) => (body += d.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body, location: res.headers.location }));
    });
    req.on("error", reject);
    req.end();
  });
}

async function upstream(text: string): Promise<{ server: Server; dial: string }> {
  const server = createServer((_req, res) => res.end(text));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return { server, dial: `127.0.0.1:${(server.address() as { port: number }).port}` };
}

// A hung engine or proxy fails the suite instead of blocking CI.
describe("Caddy admin API client with a real Caddy", { timeout: 300_000 }, () => {
  let caddy: TestCaddy;
  const servers: Server[] = [];
  before(async () => {
    caddy = await startCaddy();
  });
  after(async () => {
    for (const s of servers) s.close();
    await caddy.stop();
  });

  it("routes a hostname, replaces the route atomically, and removes it", async () => {
    const client = new CaddyClient({ adminUrl: caddy.adminUrl, httpListen: caddy.httpListen });
    await client.ensureServers();
    await client.ensureServers();
    const one = await upstream("one");
    const two = await upstream("two");
    servers.push(one.server, two.server);

    await client.setRoute({
      id: "paas-a",
      hostnames: ["pr-1-a.localhost"],
      upstreams: [one.dial],
      deployId: "d1",
    });
    await client.setRoute({
      id: "paas-b",
      hostnames: ["pr-1-b.localhost"],
      upstreams: [two.dial],
      deployId: "d2",
    });
    assert.equal((await get(caddy.httpPort, "pr-1-a.localhost")).body, "one");
    assert.deepEqual(await retryReset(() => client.probe("pr-1-a.localhost", "/", 2000)), {
      status: 200,
      deployId: "d1",
    });

    await client.setRoute({
      id: "paas-a",
      hostnames: ["pr-1-a.localhost"],
      upstreams: [two.dial],
      deployId: "d3",
    });
    assert.equal((await get(caddy.httpPort, "pr-1-a.localhost")).body, "two");
    assert.deepEqual(
      (await client.routes()).map((r) => [r.id, r.hostnames, r.deployId]),
      [
        ["paas-b", ["pr-1-b.localhost"], "d2"],
        ["paas-a", ["pr-1-a.localhost"], "d3"],
      ],
    );

    await client.removeRoute("paas-a");
    await client.removeRoute("paas-a");
    const gone = await get(caddy.httpPort, "pr-1-a.localhost");
    assert.equal(gone.status, 404);
    assert.match(gone.body, /No environment is deployed at this address/);
    assert.equal((await get(caddy.httpPort, "pr-1-b.localhost")).body, "two");
  });

  it("serves real domains over HTTPS, redirecting plain HTTP, while *.localhost stays plain", async () => {
    const httpsPort = await freePort();
    const client = new CaddyClient({
      adminUrl: caddy.adminUrl,
      httpListen: caddy.httpListen,
      httpsListen: `127.0.0.1:${httpsPort}`,
    });
    await client.ensureServers();
    const up = await upstream("secure");
    servers.push(up.server);
    await client.setRoute({
      id: "paas-c",
      hostnames: ["shop.example.com", "pr-2-c.localhost"],
      upstreams: [up.dial],
      deployId: "d4",
    });
    assert.equal(client.usesTls("shop.example.com"), true);
    assert.equal(client.usesTls("pr-2-c.localhost"), false);
    const routes = await client.routes();
    assert.deepEqual(
      routes.filter((r) => r.id === "paas-c").map((r) => r.hostnames),
      [["pr-2-c.localhost"], ["shop.example.com"]],
    );
    // The plain server does not serve the real domain: Caddy redirects it to HTTPS.
    const plain = await get(caddy.httpPort, "shop.example.com");
    assert.equal(plain.status, 308);
    assert.match(plain.location ?? "", /^https:\/\/shop\.example\.com(?::\d+)?\/$/);
    await client.removeRoute("paas-c");
    assert.equal((await client.routes()).filter((r) => r.id === "paas-c").length, 0);
  });

  it("says how to start Caddy when its admin API does not answer", async () => {
    const client = new CaddyClient({ adminUrl: `http://127.0.0.1:${await freePort()}`, httpListen: ":80" });
    // The cause in the message: refused (not running) rather than too busy to answer in time.
    await assert.rejects(
      client.ping(),
      /does not answer at \S+ \(connect ECONNREFUSED [^)]*\): start Caddy \(`caddy run`.*PAAS_CADDY_ADMIN/,
    );
  });
});

describe("Caddy admin API client, when the connection fails", () => {
  /** An admin API that drops the connections of the requests numbered in `drops` (from 1), else answers `{}`; its request log. */
  async function flaky(
    drops: number[],
  ): Promise<{ url: string; seen: string[]; close: () => Promise<void> }> {
    const seen: string[] = [];
    const server = createServer((req, res) => {
      seen.push(`${req.method} ${req.url}`);
      if (drops.includes(seen.length)) {
        req.socket.destroy();
        return;
      }
      res.setHeader("content-type", "application/json");
      res.end("{}");
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    const { port } = server.address() as { port: number };
    return {
      url: `http://127.0.0.1:${port}`,
      seen,
      close: () => new Promise((r) => server.close(() => r())),
    };
  }

  it("tries a read or an update by @id again: a Caddy busy for a moment does not fail a deploy", async () => {
    const admin = await flaky([1, 2, 4]);
    try {
      const client = new CaddyClient({ adminUrl: admin.url, httpListen: ":80" });
      await client.ping();
      assert.deepEqual(admin.seen, ["GET /config/", "GET /config/", "GET /config/"]);
      await client.removeRoute("paas-x");
      assert.deepEqual(admin.seen.slice(3), [
        "DELETE /id/paas-x",
        "DELETE /id/paas-x",
        "DELETE /id/paas-x-tls",
      ]);
    } finally {
      await admin.close();
    }
  });

  it("gives up after three tries, with the cause", async () => {
    const admin = await flaky([1, 2, 3, 4]);
    try {
      const client = new CaddyClient({ adminUrl: admin.url, httpListen: ":80" });
      await assert.rejects(client.ping(), /does not answer at \S+ \(socket hang up\)/);
      assert.equal(admin.seen.length, 3);
    } finally {
      await admin.close();
    }
  });
});

describe("Caddy routes (pure)", () => {
  it("match hosts, proxy to upstreams and tag the answering deployment", () => {
    assert.deepEqual(caddyRoute("paas-x", ["a.localhost"], ["127.0.0.1:1234"], "abc"), {
      "@id": "paas-x",
      match: [{ host: ["a.localhost"] }],
      handle: [
        {
          handler: "reverse_proxy",
          upstreams: [{ dial: "127.0.0.1:1234" }],
          load_balancing: { try_duration: "5s", try_interval: "250ms" },
          headers: { response: { set: { "Paas-Deployment": ["abc"] } } },
        },
      ],
      terminal: true,
    });
    assert.deepEqual(
      ["pr-1-x.localhost", "localhost", "127.0.0.1", "::1", "x.example.com", "localhost.example.com"].map(
        isLocalHostname,
      ),
      [true, true, true, true, false, false],
    );
  });
});
