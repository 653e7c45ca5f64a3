// The hand-off client against a local HTTP server speaking the App's endpoint.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { mkdtempSync, writeFileSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import { configBlobOf, handOff, HandoffError, type HandoffRequest } from "../../action/src/handoff.ts";
import { acceptedAnswer, handoffRequestSchema } from "../../src/contract/handoff.ts";
import { freePort } from "../support/registry.ts";

const request: HandoffRequest = {
  repository: "o/r",
  sha: "0123456789abcdef0123456789abcdef01234567",
  ref: "refs/heads/main",
  environment: "production",
  image: "ghcr.io/o/r",
  digest: `sha256:${"a".repeat(64)}`,
  app: "",
  runId: 7,
};

describe("handOff", () => {
  let server: Server;
  let url: string;
  let answers: { status: number; body: unknown }[] = [];
  const seen: { auth: string | undefined; body: unknown; path: string | undefined }[] = [];
  before(async () => {
    server = createServer((req, res) => {
      let body = "";
      req.on("data", (d: Buffer) => (body += d.toString()));
      req.on("end", () => {
        seen.push({ auth: req.headers.authorization, body: JSON.parse(body), path: req.url });
        const a = answers.shift() ?? { status: 500, body: { message: "no answer left" } };
        res.writeHead(a.status, { "content-type": "application/json" }).end(JSON.stringify(a.body));
      });
    });
    await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
    url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  });
  after(() => new Promise<void>((r) => server.close(() => r())));

  it("posts the deployment with the token and returns the App's answer", async () => {
    seen.length = 0;
    const body = acceptedAnswer({
      deploymentId: 31,
      environment: "preview/pr-1",
      url: "https://pr-1-r.example.com",
      sha: request.sha,
      duplicate: false,
    });
    answers = [{ status: 202, body }];
    const a = await handOff(`${url}/`, request, "tok", { baseDelayMs: 1 });
    assert.deepEqual(seen, [{ auth: "Bearer tok", body: request, path: "/paas/v1/deployments" }]);
    assert.equal(a.deploymentId, "31");
    assert.equal(a.url, "https://pr-1-r.example.com");
    assert.equal(a.message, body.message);
  });

  it("reports an accepted answer outside the contract instead of guessing its fields", async () => {
    answers = [{ status: 202, body: { id: 31, previewUrl: "https://pr-1-r.example.com" } }];
    const a = await handOff(url, request, "tok", { baseDelayMs: 1 });
    assert.equal(a.httpStatus, 202);
    assert.equal(a.deploymentId, undefined);
    assert.equal(a.url, undefined);
    assert.match(a.message ?? "", /does not follow the hand-off contract \(deploymentId: /);
  });

  it("sends what the App's request schema accepts", () => {
    const parsed = handoffRequestSchema.parse(request);
    assert.equal(parsed.image, `ghcr.io/o/r@${request.digest}`);
    assert.equal(handoffRequestSchema.safeParse({ ...request, runId: undefined }).success, true);
  });

  it("retries 5xx answers with backoff, then succeeds", async () => {
    seen.length = 0;
    answers = [
      { status: 502, body: "bad gateway" },
      { status: 503, body: { message: "restarting" } },
      {
        status: 202,
        body: acceptedAnswer({
          deploymentId: 9,
          environment: "production",
          url: "https://r.example.com",
          sha: request.sha,
          duplicate: true,
        }),
      },
    ];
    const retries: string[] = [];
    const a = await handOff(url, request, "tok", {
      baseDelayMs: 1,
      onRetry: (n, reason) => retries.push(`${n}: ${reason}`),
    });
    assert.equal(seen.length, 3);
    assert.deepEqual(retries, ["1: HTTP 502: bad gateway", "2: HTTP 503: restarting"]);
    assert.equal(a.deploymentId, "9");
    assert.equal(a.message, "already accepted: deployment 9");
  });

  it("gives up after the bounded number of attempts", async () => {
    seen.length = 0;
    answers = [];
    await assert.rejects(handOff(url, request, "tok", { attempts: 3, baseDelayMs: 1 }), (e: unknown) => {
      assert.ok(e instanceof HandoffError);
      assert.match(e.message, /could not be reached after 3 attempts \(last: HTTP 500: no answer left\)/);
      return true;
    });
    assert.equal(seen.length, 3);
  });

  it("does not retry a refusal, and says what to fix by the refusal's code", async () => {
    seen.length = 0;
    answers = [
      {
        status: 403,
        body: { error: "handoff_rejected", check: "sha", message: "abc is not the head of PR 3" },
      },
      { status: 401, body: { error: "handoff_rejected", check: "audience", message: "wrong audience" } },
    ];
    await assert.rejects(handOff(url, request, "tok", { baseDelayMs: 1 }), (e: unknown) => {
      assert.ok(e instanceof HandoffError);
      assert.equal(e.httpStatus, 403);
      assert.equal(e.check, "sha");
      assert.match(e.message, /answered HTTP 403 \(check sha\): abc is not the head of PR 3 \(push again/);
      assert.doesNotMatch(e.message, /OIDC token/, "a commit refusal is not blamed on the token");
      return true;
    });
    await assert.rejects(handOff(url, request, "tok", { baseDelayMs: 1 }), (e: unknown) => {
      assert.ok(e instanceof HandoffError);
      assert.equal(e.check, "audience");
      assert.match(
        e.message,
        /\(check audience\): wrong audience \(the App refused this workflow's OIDC token/,
      );
      return true;
    });
    assert.equal(seen.length, 2);
  });

  it("reads a refusal that is not the App's by its status", async () => {
    answers = [{ status: 403, body: "<html>forbidden</html>" }];
    await assert.rejects(handOff(url, request, "tok", { baseDelayMs: 1 }), (e: unknown) => {
      assert.ok(e instanceof HandoffError);
      assert.equal(e.check, undefined);
      assert.match(e.message, /answered HTTP 403: <html>forbidden<\/html> \(the App refused/);
      return true;
    });
  });

  it("retries network errors", async () => {
    const closed = `http://127.0.0.1:${await freePort()}`;
    await assert.rejects(
      handOff(closed, request, "tok", { attempts: 2, baseDelayMs: 1 }),
      /after 2 attempts \(last: ECONNREFUSED\)/,
    );
  });
});

describe("configBlobOf", () => {
  it("names the checked-out .paas.yml as git does, and nothing without one", async () => {
    const dir = mkdtempSync(path.join(tmpdir(), "paas-action-blob-"));
    assert.equal(await configBlobOf(dir), undefined);
    writeFileSync(path.join(dir, ".paas.yml"), "name: shop\n");
    const git = execFileSync("git", ["hash-object", path.join(dir, ".paas.yml")], { encoding: "utf8" });
    assert.equal(await configBlobOf(dir), git.trim());
    // The contract accepts it as the hand-off's configBlob.
    const parsed = handoffRequestSchema.safeParse({ ...request, configBlob: git.trim() });
    assert.ok(parsed.success);
  });
});
