// Body limits before any parsing on every path the server answers, whatever
// the spelling of the path (trailing slash, dot segments, doubled slashes),
// and delivery dedupe on the normalised path.
import assert from "node:assert/strict";
import { createHmac, randomUUID } from "node:crypto";
import { request } from "node:http";
import { after, before, describe, it } from "node:test";
import { normalisePath } from "../../src/server/body-limit.ts";
import { sha, startHarness, type Harness } from "../support/app-harness.ts";

const MiB = 1024 * 1024;

/**
 * Streams `total` bytes (chunked, no Content-Length) to `path` until the server answers, and
 * counts what was sent by then. The chunk is reused: the client holds 64 KiB, never the body.
 */
function streamBody(
  base: string,
  path: string,
  total: number,
): Promise<{ status: number; sent: number; body: string }> {
  const u = new URL(base);
  const chunk = Buffer.alloc(64 * 1024, "x".charCodeAt(0));
  return new Promise((resolve, reject) => {
    let sent = 0;
    let answered = false;
    const req = request(
      {
        host: u.hostname,
        port: u.port,
        method: "POST",
        path,
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": randomUUID(),
          "x-hub-signature-256": `sha256=${"0".repeat(64)}`,
        },
      },
      (res) => {
        answered = true;
        let body = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => (body += c));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, sent, body }));
      },
    );
    req.on("error", (e) => (answered ? undefined : reject(e)));
    const pump = () => {
      while (!answered && sent < total) {
        sent += chunk.length;
        if (!req.write(chunk)) return void req.once("drain", pump);
      }
      if (!answered) req.end();
    };
    pump();
  });
}

describe("body limits on every path", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ PAAS_MAX_WEBHOOK_BYTES: String(1 * MiB) });
  });
  after(async () => {
    await h.close();
  });

  it("normalises path variants to one path", () => {
    for (const v of [
      "/api/github/webhooks",
      "/api/github/webhooks/",
      "/x/../api/github/webhooks",
      "//api/github/webhooks",
      "/api/github/./webhooks?x=1",
      "/api/github/%2e%2e/github/webhooks",
    ])
      assert.equal(normalisePath(v), "/api/github/webhooks", v);
    assert.equal(normalisePath("/"), "/");
  });

  it("refuses a 200 MiB body on webhook path variants with 413 before reading it", async () => {
    const total = 200 * MiB;
    for (const path of ["/api/github/webhooks/", "/x/../api/github/webhooks", "//api/github/webhooks"]) {
      const r = await streamBody(h.app.url, path, total);
      assert.equal(r.status, 413, `${path}: ${r.body}`);
      assert.equal(JSON.parse(r.body).check, "size");
      // Refused past the 1 MiB limit: the client was still sending, far from the end.
      assert.ok(r.sent < total / 4, `${path}: ${r.sent} bytes were sent before the answer`);
    }
  });

  it("answers any other path without reading its body", async () => {
    const total = 200 * MiB;
    for (const path of ["/anything", "/api/github/webhooks-not", "/paas/v1/deployments/../../nope"]) {
      const r = await streamBody(h.app.url, path, total);
      assert.equal(r.status, 404, `${path}: ${r.body}`);
      assert.ok(r.sent < total / 4, `${path}: ${r.sent} bytes were sent before the answer`);
    }
  });

  it("refuses an oversized hand-off on a variant of its path (413 size)", async () => {
    const r = await streamBody(h.app.url, "/paas/v1/deployments/", 200 * MiB);
    assert.equal(r.status, 413, r.body);
    assert.equal(JSON.parse(r.body).check, "size");
  });

  it("dedupes a delivery on the normalised path: the same delivery on a variant has no second effect", async () => {
    const commit = sha(0xf001);
    const body = JSON.stringify(h.pushPayload("refs/heads/main", commit));
    const signature = "sha256=" + createHmac("sha256", h.settings.webhookSecret).update(body).digest("hex");
    const delivery = randomUUID();
    const send = async (path: string) => {
      const res = await fetch(`${h.app.url}${path}`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          "x-github-event": "push",
          "x-github-delivery": delivery,
          "x-hub-signature-256": signature,
        },
        body,
      });
      return { status: res.status, text: await res.text() };
    };
    const first = await send("/api/github/webhooks");
    assert.equal(first.status, 200);
    const again = await send("/api/github/webhooks/");
    assert.equal(again.status, 200);
    assert.match(again.text, /delivery already handled/);
  });
});
