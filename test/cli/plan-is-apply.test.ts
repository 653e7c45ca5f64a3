// The dry run is the plan: for the same settings and .paas.yml, what `paas
// plan` prints is what each runtime applies. Docker: the printed plan is
// planDocker's, the plan the Docker runtime creates (runtime.test.ts checks a
// real container against planDocker). Kubernetes: the printed manifests are
// the objects the runtime applies to the (fake) API server.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parse, parseAllDocuments } from "yaml";
import { dockerDryRun, kubernetesPlanSettings, planSpecs } from "../../src/cli/plan.ts";
import type { CliIO } from "../../src/cli/io.ts";
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { ROOT, runPaas } from "../support/paas-cli.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const IMAGE = `ghcr.io/octo/hello@sha256:${"c".repeat(64)}`;
const ENV = { PAAS_BASE_DOMAIN: "example.com", PAAS_MAX_REPLICAS: "5" };
const ARGS = [
  "examples/python",
  "--env",
  "preview/pr-7",
  "--sha",
  SHA,
  "--image",
  IMAGE,
  "--repo",
  "octo/hello",
];

const paas = (...argv: string[]) => runPaas(ENV, ...argv);

const io: CliIO = { out: () => {}, err: () => {}, cwd: ROOT, env: { ...ENV } };
const values = { env: "preview/pr-7", sha: SHA, image: IMAGE, repo: "octo/hello" };

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** An object as applied, without what the API server adds. */
function applied(o: Json): Json {
  const { status: _s, ...rest } = structuredClone(o);
  for (const k of ["uid", "resourceVersion", "generation", "creationTimestamp", "managedFields"])
    delete rest.metadata[k];
  if (rest.kind === "Namespace") {
    delete rest.metadata.labels["kubernetes.io/metadata.name"];
    // Written when the rollout succeeds (the time is the runtime's, like Docker's deploy time).
    delete rest.metadata.annotations["paas.dev/deployed-at"];
  }
  return rest;
}

describe("the dry run is the plan", () => {
  it("docker: paas plan prints the plan the Docker runtime creates", async () => {
    const r = await paas("plan", ...ARGS, "--runtime", "docker");
    assert.equal(r.code, 0, r.stderr);
    const specs = await planSpecs({ values, dir: "examples/python", runtime: "docker" }, io);
    assert.deepEqual(
      parseAllDocuments(r.stdout).map((d) => d.toJS()),
      specs.map((s) => dockerDryRun(s, undefined)),
    );
  });

  it("kubernetes: paas plan prints the objects the Kubernetes runtime applies", async () => {
    const r = await paas("plan", ...ARGS, "--runtime", "kubernetes");
    assert.equal(r.code, 0, r.stderr);
    const printed = parseAllDocuments(r.stdout).map((d) => d.toJS() as Json);
    const [spec] = await planSpecs({ values, dir: "examples/python", runtime: "kubernetes" }, io);
    const fake = await FakeKubernetesApi.start();
    try {
      const runtime = new KubernetesRuntime({
        kubeConfig: fake.kubeConfig(),
        settings: kubernetesPlanSettings({}, io),
        pollIntervalMs: 10,
        retry: { minDelayMs: 5, maxDelayMs: 50 },
      });
      const result = await runtime.apply(spec!);
      assert.equal(result.ok, true, JSON.stringify(result));
      for (const doc of printed) {
        const got = fake.get(doc.apiVersion, doc.kind, doc.metadata.namespace, doc.metadata.name);
        assert.ok(got, `${doc.kind} ${doc.metadata.name} was not applied`);
        assert.deepEqual(parse(JSON.stringify(applied(got))), doc, `${doc.kind} ${doc.metadata.name}`);
      }
    } finally {
      await fake.close();
    }
  });
});
