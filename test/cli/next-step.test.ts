// The one next step `paas start` prints once ready: the setup page without
// credentials; with them, the webhook URL and how to add the Action, plus the
// warning when GitHub cannot reach the App's public URL.
import assert from "node:assert/strict";
import { test } from "node:test";
import { serveNextStep, setupNextStep } from "../../src/cli/next-step.ts";

test("without credentials: the setup page's URL on the App's port", () => {
  const line = setupNextStep(3456);
  assert.match(
    line,
    /^No GitHub App credentials yet\. Next step: open http:\/\/localhost:3456\/ to register/,
  );
  assert.match(line, /writes APP_ID, PRIVATE_KEY and WEBHOOK_SECRET to \.env/);
});

test("with credentials on a public URL: the webhook URL and the Action's variable, nothing about reachability", () => {
  const text = serveNextStep({ PAAS_PUBLIC_URL: "https://paas.example.com/" }).join("\n");
  assert.match(text, /Webhook URL: https:\/\/paas\.example\.com\/api\/github\/webhooks \(/);
  assert.match(text, /examples\/python\/\.github\/workflows\/paas\.yml to \.github\/workflows\/paas\.yml/);
  assert.match(text, /PAAS_APP_URL to https:\/\/paas\.example\.com \(/);
  assert.doesNotMatch(text, /cannot reach/);
});

test("WEBHOOK_PATH is the webhook's path", () => {
  const text = serveNextStep({ PAAS_PUBLIC_URL: "https://paas.example.com", WEBHOOK_PATH: "/hooks" }).join(
    "\n",
  );
  assert.match(text, /Webhook URL: https:\/\/paas\.example\.com\/hooks \(/);
});

for (const local of [
  "http://localhost:3000",
  "http://127.0.0.1:3000",
  "http://paas.localhost",
  "http://[::1]:3000",
]) {
  test(`a local public URL (${local}) says GitHub cannot reach it and what to set`, () => {
    const text = serveNextStep({ PAAS_PUBLIC_URL: local }).join("\n");
    assert.match(text, new RegExp(`GitHub cannot reach ${local.replace(/[.[\]]/g, "\\$&")}: publish`));
    assert.match(text, /set PAAS_PUBLIC_URL/);
  });
}
