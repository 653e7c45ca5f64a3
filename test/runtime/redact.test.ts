// Secret values in a failed rollout's diagnosis are masked: the pure helper,
// and the Kubernetes runtime against the fake API server with an app whose
// crash logs contain the value of a secret it was given.
import assert from "node:assert/strict";
import { test } from "node:test";
import { redactDiagnosis, redactLines } from "../../src/runtime/redact.ts";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { crashLogLines, FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS, PREVIEW_YAML, specFor } from "./kubernetes/specs.ts";

test("redactLines masks every occurrence, longest value first, and ignores tiny values", () => {
  assert.deepEqual(
    redactLines(["url=postgres://u:pw-123@db pw-123", "ok", "a"], ["pw-123", "postgres://u:pw-123@db", "a"]),
    ["url=*** ***", "ok", "a"],
  );
  const d = redactDiagnosis(
    {
      summary: "exit 1: token tok-9999",
      events: ["pulled tok-9999"],
      state: "tok-9999",
      exitCode: 1,
      logs: ["x tok-9999"],
    },
    ["tok-9999"],
  );
  assert.deepEqual(d, {
    summary: "exit 1: token ***",
    events: ["pulled ***"],
    state: "***",
    exitCode: 1,
    logs: ["x ***"],
  });
});

test("the Kubernetes runtime masks a secret value its crashing app printed", async () => {
  const fake = await FakeKubernetesApi.start();
  try {
    // The secret's value is what the app prints in its crash logs (here: one of the fake's log lines).
    const printed = crashLogLines().at(-1)!.split(": ")[1]!;
    const runtime = new KubernetesRuntime({
      kubeConfig: fake.kubeConfig(),
      settings: HTTPROUTE_SETTINGS,
      pollIntervalMs: 10,
      retry: { minDelayMs: 5, maxDelayMs: 50 },
      secrets: { get: async (_t, names) => Object.fromEntries(names.map((n) => [n, printed])) },
    });
    const spec = specFor(PREVIEW_YAML, "preview/pr-77", {
      image: `ghcr.io/acme/shop@sha256:${"7".repeat(64)}`,
    });
    fake.setScenario(spec.image, "crash");
    const result = await runtime.apply(spec);
    assert.equal(result.ok, false);
    if (result.ok) return;
    const shown = [result.diagnosis.summary, ...result.diagnosis.events, ...result.diagnosis.logs].join("\n");
    assert.ok(!shown.includes(printed), shown);
    assert.equal(result.diagnosis.logs.at(-1), "RuntimeError: ***");
    assert.equal(result.diagnosis.logs.length, 50, "the other lines are kept");
  } finally {
    await fake.close();
  }
});
