// The App's own secrets never leave in a request to GitHub: the Octokit plugin
// masks them (and their encodings) in every parameter of every request.
import assert from "node:assert/strict";
import { generateKeyPairSync } from "node:crypto";
import { test } from "node:test";
import { Octokit } from "@octokit/rest";
import { appSecrets, redactRequestsPlugin } from "../../src/server/redact-github.ts";
import type { Settings } from "../../src/settings/app.ts";

const KEY = generateKeyPairSync("rsa", {
  modulusLength: 2048,
  privateKeyEncoding: { type: "pkcs8", format: "pem" },
  publicKeyEncoding: { type: "spki", format: "pem" },
}).privateKey;
const TOKEN = "cf-token-0123456789abcdef";
const WEBHOOK = "whsec-0123456789";
// The App's sealing key (hand-off secrets are sealed to it): an App secret like the others.
const SEALING = generateKeyPairSync("x25519").privateKey;
const SEALING_PEM = SEALING.export({ format: "pem", type: "pkcs8" }).toString();

test("requests to GitHub carry no App secret: check run output, comment, deployment status", async () => {
  const settings = {
    privateKey: KEY,
    webhookSecret: WEBHOOK,
    sealing: { privateKey: SEALING },
    dns: { provider: "cloudflare", apiToken: TOKEN, zoneId: "z", target: "t", proxied: true },
  } as unknown as Settings;
  const sent: { url: string; body: string }[] = [];
  const Client = Octokit.plugin(redactRequestsPlugin(appSecrets(settings)));
  const octokit = new Client({
    request: {
      fetch: async (url: string, init: RequestInit) => {
        sent.push({ url, body: String(init.body) });
        return new Response("{}", { status: 200, headers: { "content-type": "application/json" } });
      },
    },
  });
  const common = { owner: "acme", repo: "shop" };
  await octokit.rest.checks.update({
    ...common,
    check_run_id: 1,
    output: { title: `failed: ${TOKEN}`, summary: "the key:", text: KEY },
  });
  await octokit.rest.issues.createComment({
    ...common,
    issue_number: 2,
    body: `webhook ${WEBHOOK}, auth ${Buffer.from(`x:${TOKEN}`).toString("base64")}, sealing ${SEALING_PEM}`,
  });
  await octokit.rest.repos.createDeploymentStatus({
    ...common,
    deployment_id: 3,
    state: "failure",
    description: `GET /zones?token=${encodeURIComponent(TOKEN)}`,
  });
  assert.equal(sent.length, 3);
  assert.match(sent[0]!.url, /\/repos\/acme\/shop\/check-runs\/1$/, "the URL is untouched");
  const all = sent.map((s) => s.body).join("\n");
  const lines = [KEY, SEALING_PEM].flatMap((k) =>
    k.split("\n").filter((l) => l.length >= 8 && !l.startsWith("-----")),
  );
  for (const secret of [TOKEN, WEBHOOK, encodeURIComponent(TOKEN), ...lines])
    assert.ok(!all.includes(secret), `${secret} sent in ${all}`);
  for (const run of all.match(/[A-Za-z0-9+/]{16,}/g) ?? [])
    for (let offset = 0; offset < 4; offset++)
      assert.ok(!Buffer.from(run.slice(offset), "base64").toString("latin1").includes(TOKEN), run);
  assert.match(all, /failed: \*\*\*/);
});
