import assert from "node:assert/strict";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { after, before, describe, it } from "node:test";
import { HttpProber } from "../../src/app/probe.ts";

describe("HttpProber", () => {
  let server: Server;
  let port = 0;
  const served = new Map<string, { status: number; sha?: string }>();
  const seenHosts: string[] = [];
  before(async () => {
    server = createServer((req, res) => {
      seenHosts.push(req.headers.host ?? "");
      const r = served.get(`${req.headers.host}${req.url}`);
      if (!r) return void res.writeHead(502).end();
      res.writeHead(r.status, r.sha ? { "x-paas-commit": r.sha } : {}).end();
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", () => r()));
    port = (server.address() as AddressInfo).port;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("reaches the public hostname through the probe address with the Host header", async () => {
    served.set("app.example.com/healthz", { status: 200 });
    const p = new HttpProber(`http://127.0.0.1:${port}`);
    const r = await p.probe("http://app.example.com/", "/healthz", "a".repeat(40), {
      timeoutMs: 1000,
      intervalMs: 10,
    });
    assert.deepEqual(r, { ok: true, status: 200 });
    assert.ok(seenHosts.includes("app.example.com"));
  });

  it("waits until the route serves the new commit", async () => {
    const sha = "b".repeat(40);
    served.set("new.example.com/", { status: 200, sha: "c".repeat(40) });
    const p = new HttpProber(`http://127.0.0.1:${port}`);
    setTimeout(() => served.set("new.example.com/", { status: 200, sha }), 100);
    const r = await p.probe("http://new.example.com/", "/", sha, { timeoutMs: 5000, intervalMs: 20 });
    assert.equal(r.ok, true);
  });

  it("gives up with the last reason", async () => {
    const p = new HttpProber(`http://127.0.0.1:${port}`);
    const r = await p.probe("http://down.example.com/", "/", "d".repeat(40), {
      timeoutMs: 100,
      intervalMs: 20,
    });
    assert.deepEqual(r, { ok: false, reason: "down.example.com/ answered HTTP 502" });
  });
});
