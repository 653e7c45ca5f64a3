// The cluster tests always run: without a cluster they fail naming the command
// that starts one (test/support/cluster.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  CLUSTER_UP,
  parseEnvFile,
  PLANES_UP,
  testCluster,
  testControlPlanes,
} from "../../support/cluster.ts";

test("no local cluster: the error names `bash scripts/cluster.sh up`", async () => {
  const state = await mkdtemp(path.join(tmpdir(), "paas-cluster-state-"));
  try {
    await assert.rejects(testCluster({ PAAS_CLUSTER_STATE: state }), (err: Error) => {
      assert.ok(err.message.includes(CLUSTER_UP), err.message);
      return true;
    });
  } finally {
    await rm(state, { recursive: true, force: true });
  }
});

test("a cluster that does not answer: the error names `bash scripts/cluster.sh up`", async () => {
  const state = await mkdtemp(path.join(tmpdir(), "paas-cluster-state-"));
  try {
    const kubeconfig = path.join(state, "kubeconfig");
    await writeFile(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:1' } }]",
        "users: [{ name: u, user: { token: t } }]",
        "contexts: [{ name: x, context: { cluster: c, user: u } }]",
        "current-context: x",
        "",
      ].join("\n"),
    );
    await writeFile(
      path.join(state, "env"),
      `export PAAS_TEST_KUBECONFIG=${kubeconfig}\nexport PAAS_K8S_GATEWAY=paas-gateway/paas\n`,
    );
    await assert.rejects(testCluster({ PAAS_CLUSTER_STATE: state }), (err: Error) => {
      assert.match(err.message, /does not answer/);
      assert.ok(err.message.includes(CLUSTER_UP), err.message);
      return true;
    });
  } finally {
    await rm(state, { recursive: true, force: true });
  }
});

test("the env file `scripts/cluster.sh up` writes is read as variables", () => {
  assert.deepEqual(parseEnvFile("export A=1\nexport B_C='x y'\n# no\nD=\"z\"\n"), {
    A: "1",
    B_C: "x y",
    D: "z",
  });
});

test("no extra control planes: the error names `bash scripts/cluster.sh planes up`", async () => {
  const state = await mkdtemp(path.join(tmpdir(), "paas-planes-state-"));
  try {
    await assert.rejects(testControlPlanes(2, { PAAS_PLANES_STATE: state }), (err: Error) => {
      assert.ok(err.message.includes(`\`${PLANES_UP}\``), err.message);
      return true;
    });
  } finally {
    await rm(state, { recursive: true, force: true });
  }
});

test("fewer planes than asked for, or one that does not answer: the error names the command with the count", async () => {
  const state = await mkdtemp(path.join(tmpdir(), "paas-planes-state-"));
  try {
    const kubeconfig = path.join(state, "kubeconfig");
    await writeFile(
      kubeconfig,
      [
        "apiVersion: v1",
        "kind: Config",
        "clusters: [{ name: c, cluster: { server: 'https://127.0.0.1:1' } }]",
        "users: [{ name: u, user: { token: t } }]",
        "contexts: [{ name: x, context: { cluster: c, user: u } }]",
        "current-context: x",
        "",
      ].join("\n"),
    );
    await writeFile(
      path.join(state, "env"),
      `export PAAS_TEST_PLANES=1\nexport PAAS_TEST_PLANE_1_KUBECONFIG=${kubeconfig}\n`,
    );
    await assert.rejects(testControlPlanes(3, { PAAS_PLANES_STATE: state }), (err: Error) => {
      assert.match(err.message, /3 extra control planes are needed, 1 are up/);
      assert.ok(err.message.includes(`\`${PLANES_UP} 3\``), err.message);
      return true;
    });
    await assert.rejects(testControlPlanes(1, { PAAS_PLANES_STATE: state }), (err: Error) => {
      assert.match(err.message, /does not answer/);
      assert.ok(err.message.includes(`\`${PLANES_UP} 1\``), err.message);
      return true;
    });
  } finally {
    await rm(state, { recursive: true, force: true });
  }
});
