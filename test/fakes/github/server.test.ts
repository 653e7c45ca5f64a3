// The fake GitHub must refuse what GitHub's description does not allow,
// otherwise tests asserting "no violations" could not fail.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { dirname, join } from "node:path";
import { after, before, describe, it } from "node:test";
import { fileURLToPath } from "node:url";
import { SignJWT, importPKCS8 } from "jose";
import { extract } from "./extract-openapi-subset.ts";
import { FakeGitHub } from "./server.ts";

describe("fake GitHub", () => {
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const gh = new FakeGitHub({
    appId: 1,
    appPublicKey: publicKey.export({ type: "spki", format: "pem" }).toString(),
  });
  let token = "";
  const api = (path: string, init: RequestInit = {}) =>
    fetch(`http://${gh.host}/api/v3${path}`, {
      ...init,
      headers: {
        "content-type": "application/json",
        authorization: `token ${token}`,
        ...(init.headers ?? {}),
      },
    });

  before(async () => {
    await gh.start();
    gh.addInstallation(7, "o", 2);
    gh.addRepository({ id: 3, owner: "o", ownerId: 2, name: "r", installationId: 7 });
    const jwt = await new SignJWT({})
      .setProtectedHeader({ alg: "RS256" })
      .setIssuer("1")
      .setIssuedAt()
      .setExpirationTime("5m")
      .sign(await importPKCS8(privateKey.export({ type: "pkcs8", format: "pem" }).toString(), "RS256"));
    const res = await fetch(`http://${gh.host}/api/v3/app/installations/7/access_tokens`, {
      method: "POST",
      headers: { authorization: `bearer ${jwt}` },
    });
    assert.equal(res.status, 201);
    token = ((await res.json()) as { token: string }).token;
  });
  after(() => gh.stop());

  it("accepts a documented request", async () => {
    const before = gh.violations.length;
    const res = await api("/repos/o/r/deployments", {
      method: "POST",
      body: JSON.stringify({
        ref: "a".repeat(40),
        environment: "production",
        required_contexts: [],
        auto_merge: false,
      }),
    });
    assert.equal(res.status, 201);
    assert.equal(gh.violations.length, before);
  });

  it("records undocumented paths, query parameters and bodies", async () => {
    const before = gh.violations.length;
    assert.equal((await api("/repos/o/r/deployments/nope")).status, 404);
    assert.equal((await api("/repos/o/r/deployments?colour=blue")).status, 422);
    const bad = await api("/repos/o/r/deployments", {
      method: "POST",
      body: JSON.stringify({ ref: 5, required_contexts: "none" }),
    });
    assert.equal(bad.status, 422);
    const badStatus = await api("/repos/o/r/deployments/1/statuses", {
      method: "POST",
      body: JSON.stringify({ state: "done" }),
    });
    assert.equal(badStatus.status, 422);
    assert.equal(gh.violations.length, before + 4);
  });

  it("requires a token of the installation that holds the repository", async () => {
    const res = await fetch(`http://${gh.host}/api/v3/repos/o/r/pulls/1`, {
      headers: { authorization: "token ghs_forged" },
    });
    assert.equal(res.status, 401);
  });

  it("serves the committed subset of GitHub's current description", () => {
    const require = createRequire(import.meta.url);
    const pkg = dirname(require.resolve("@octokit/openapi/package.json"));
    const spec = JSON.parse(readFileSync(join(pkg, "generated", "api.github.com.json"), "utf8"));
    const here = dirname(fileURLToPath(import.meta.url));
    const committed = JSON.parse(readFileSync(join(here, "openapi-subset.json"), "utf8"));
    assert.deepEqual(committed, extract(spec), "run: node test/fakes/github/extract-openapi-subset.ts");
  });
});
