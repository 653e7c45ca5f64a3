// failingContainerLogs: the log lines a diagnosis (of a rollout or of the release Job) shows.
import assert from "node:assert/strict";
import { test } from "node:test";
import { KubernetesApiError, type KubeClient } from "../../../src/runtime/kubernetes/client.ts";
import { failingContainerLogs } from "../../../src/runtime/kubernetes/diagnose.ts";

function clientLogging(podLog: (previous: boolean | undefined) => Promise<string>): {
  client: KubeClient;
  asked: unknown[][];
} {
  const asked: unknown[][] = [];
  const client = {
    podLog: (ns: string, pod: string, container: string, o: { previous?: boolean; tailLines?: number }) => {
      asked.push([ns, pod, container, o]);
      return podLog(o.previous);
    },
  } as unknown as KubeClient;
  return { client, asked };
}

const finding = { pod: "web-1", container: "app" };

test("the last 50 lines, without the empty one after the final newline, of the run asked for", async () => {
  const text = Array.from({ length: 60 }, (_, i) => `line ${i}`).join("\n") + "\n";
  const { client, asked } = clientLogging(async () => text);
  const logs = await failingContainerLogs(client, "ns-a", finding, true);
  assert.equal(logs.length, 50);
  assert.equal(logs[0], "line 10");
  assert.equal(logs.at(-1), "line 59");
  assert.deepEqual(asked, [["ns-a", "web-1", "app", { previous: true, tailLines: 50 }]]);
  await failingContainerLogs(client, "ns-a", finding, false);
  assert.deepEqual(asked[1]![3], { previous: false, tailLines: 50 });
});

test("no lines while the container has none (400, 404); other failures are one line of the diagnosis, not an exception", async () => {
  for (const status of [400, 404]) {
    const { client } = clientLogging(async () => {
      throw new KubernetesApiError("no logs", status, undefined);
    });
    assert.deepEqual(await failingContainerLogs(client, "ns-a", finding, false), []);
  }
  // Forbidden (the App's RBAC lacks pods/log) and an answer the client cannot parse (seen on a
  // real cluster when the pod went away): the rollout's failure is still what the user reads.
  for (const err of [
    new KubernetesApiError("forbidden: pods/log", 403, "Forbidden"),
    new KubernetesApiError(
      "read logs failed: Cannot parse content. No Content-Type defined.",
      undefined,
      undefined,
    ),
  ]) {
    const { client } = clientLogging(async () => {
      throw err;
    });
    const lines = await failingContainerLogs(client, "ns-a", finding, false);
    assert.equal(lines.length, 1);
    assert.match(lines[0]!, /^\(the container's logs could not be read: .*(forbidden|Cannot parse)/);
  }
});
