// `paas plan`, the dry run, as a user runs it: YAML on stdout ready for
// `kubectl apply -f -`, nothing applied, clear errors.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { test } from "node:test";
import { parseAllDocuments } from "yaml";
import { runPaas } from "../support/paas-cli.ts";

const SHA = "0123456789abcdef0123456789abcdef01234567";
const IMAGE = `ghcr.io/octo/hello@sha256:${"c".repeat(64)}`;

const paas = runPaas;

const common = ["--sha", SHA, "--image", IMAGE, "--repo", "octo/hello"];

test("kubernetes: multi-document YAML of the environment's objects", async () => {
  const r = await paas(
    {
      PAAS_K8S_GATEWAY: "gateway-system/paas",
      PAAS_K8S_INGRESS_NAMESPACE: "gateway-system",
      PAAS_BASE_DOMAIN: "example.com",
    },
    "plan",
    "examples/python",
    "--env",
    "preview/pr-7",
    "--runtime",
    "kubernetes",
    ...common,
  );
  assert.equal(r.code, 0, r.stderr);
  const docs = parseAllDocuments(r.stdout).map(
    (d) =>
      d.toJS() as {
        kind: string;
        metadata: { namespace?: string; name: string };
        spec?: Record<string, unknown>;
      },
  );
  const kinds = docs.map((d) => d.kind);
  for (const k of [
    "Namespace",
    "ServiceAccount",
    "Deployment",
    "Service",
    "HTTPRoute",
    "NetworkPolicy",
    "ResourceQuota",
    "LimitRange",
  ]) {
    assert.ok(kinds.includes(k), `missing ${k} in ${kinds.join(",")}`);
  }
  const deployment = docs.find((d) => d.kind === "Deployment")!;
  assert.match(
    JSON.stringify(deployment),
    new RegExp(`"image":"${IMAGE.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}"`),
  );
  const route = docs.find((d) => d.kind === "HTTPRoute")!;
  assert.deepEqual((route.spec as { hostnames: string[] }).hostnames, ["pr-7-hello-python.example.com"]);
  const ns = docs.find((d) => d.kind === "Namespace")!.metadata.name;
  assert.ok(docs.filter((d) => d.kind !== "Namespace").every((d) => d.metadata.namespace === ns));
});

test("kubernetes without --gateway: the Gateway k8s/settings.yaml installs, said on stderr", async () => {
  const r = await paas(
    {},
    "plan",
    "examples/python",
    "--env",
    "production",
    "--runtime",
    "kubernetes",
    ...common,
  );
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stderr, /no --gateway given; planning with gateway-system\/public/);
  const route = parseAllDocuments(r.stdout)
    .map((d) => d.toJS() as { kind: string; spec?: { parentRefs?: { namespace: string; name: string }[] } })
    .find((d) => d.kind === "HTTPRoute")!;
  assert.deepEqual(
    route.spec!.parentRefs!.map((p) => `${p.namespace}/${p.name}`),
    ["gateway-system/public"],
  );
});

test("kubernetes: missing cluster settings name the variable to set", async () => {
  const r = await paas(
    { PAAS_K8S_ROUTING: "ingress" },
    "plan",
    "examples/python",
    "--env",
    "production",
    "--runtime",
    "kubernetes",
    ...common,
  );
  assert.equal(r.code, 1);
  assert.match(r.stderr, /PAAS_K8S_INGRESS_NAMESPACE is required with ingress routing/);
});

test("plan --help documents every flag", async () => {
  const r = await paas({}, "plan", "--help");
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /^Usage: paas plan \[dir\] --env <name>/);
  const { PLAN_USAGE } = await import("../../src/cli/plan.ts");
  assert.equal(r.stdout.trim(), PLAN_USAGE);
  // Every flag the parser accepts has its line (an undocumented flag fails here).
  const accepted = [
    "env",
    "image",
    "runtime",
    "app",
    "sha",
    "repo",
    "repository-id",
    "base-domain",
    "gateway",
    "ingress-namespace",
    "help",
  ];
  for (const flag of accepted) assert.match(r.stdout, new RegExp(`^  --${flag} +\\S`, "m"), flag);
  for (const flag of accepted.filter((f) => f !== "help")) {
    const unknown = await paas({}, "plan", "examples/python", `--${flag}-typo`);
    assert.equal(unknown.code, 2, `--${flag}-typo is refused`);
  }
});

test("docker: the container, its env and its route", async () => {
  const r = await paas({}, "plan", "examples/python", "--env", "production", ...common);
  assert.equal(r.code, 0, r.stderr);
  const [view] = parseAllDocuments(r.stdout).map((d) => d.toJS() as Record<string, unknown>);
  assert.equal(view!.runtime, "docker");
  const [container] = view!.containers as { image: string; env: Record<string, string>; name: string }[];
  assert.equal(container!.image, IMAGE);
  assert.match(container!.name, /-<deploy-id>$/, "the rollout's id is chosen at apply time");
  assert.equal(view!.url, "http://hello-python.localhost/");
  assert.equal(container!.env.PAAS_COMMIT_SHA, SHA);
  // network.egress none (the example's default): an internal network, unless the operator turned it off.
  assert.equal((view!.network as { internal: boolean }).internal, true);
  const off = await paas(
    { PAAS_DOCKER_EGRESS_GUARD: "off" },
    "plan",
    "examples/python",
    "--env",
    "production",
    ...common,
  );
  assert.equal(off.code, 0, off.stderr);
  const [offView] = parseAllDocuments(off.stdout).map((d) => d.toJS() as { network: { internal: boolean } });
  assert.equal(offView!.network.internal, false);
});

test("errors: missing --env is a usage error; unknown environments name the fix", async () => {
  const usage = await paas({}, "plan", "examples/python", ...common);
  assert.equal(usage.code, 2);
  assert.match(usage.stderr, /--env is required/);
  const unknown = await paas({}, "plan", "examples/python", "--env", "qa", ...common);
  assert.equal(unknown.code, 1);
  assert.match(unknown.stderr, /environment "qa" is not defined in \.paas\.yml; add it under environments/);
  const hostile = await paas({}, "plan", "examples/python", "--env", "../../etc", ...common);
  assert.equal(hostile.code, 2);
  assert.match(hostile.stderr, /is not an environment/);
});

test("the App's settings: https URLs for real domains, and the App's resource ceilings", async () => {
  const https = await paas(
    { PAAS_BASE_DOMAIN: "example.com" },
    "plan",
    "examples/python",
    "--env",
    "production",
    ...common,
  );
  assert.equal(https.code, 0, https.stderr);
  const [view] = parseAllDocuments(https.stdout).map((d) => d.toJS() as Record<string, unknown>);
  assert.equal(view!.url, "https://hello-python.example.com/");
  const refused = await paas(
    { PAAS_MAX_REPLICAS: "1", PAAS_MAX_MEMORY: "1Mi" },
    "plan",
    "examples/python",
    "--env",
    "production",
    ...common,
  );
  assert.equal(refused.code, 1);
  assert.match(
    refused.stderr,
    /resources\.limits\.memory \S+ is above this platform's ceiling of 1Mi per replica/,
  );
  assert.equal(refused.stdout, "");
  const invalid = await paas(
    { PAAS_URL_SCHEME: "ftp" },
    "plan",
    "examples/python",
    "--env",
    "production",
    ...common,
  );
  assert.equal(invalid.code, 1);
  assert.match(invalid.stderr, /PAAS_URL_SCHEME must be http or https/);
});

test("kubernetes --cluster: one registered cluster's objects, with its own settings; refused where the environment does not run", async () => {
  const dir = mkdtempSync(join(tmpdir(), "paas-plan-cluster-"));
  try {
    writeFileSync(join(dir, "Dockerfile"), "FROM scratch\n");
    writeFileSync(
      join(dir, ".paas.yml"),
      "name: records\nrun: { command: ./server, port: 8080 }\nenvironments:\n  production:\n    branch: main\n    clusters: west\n    rollout: { waves: [1] }\n",
    );
    writeFileSync(
      join(dir, "clusters.yaml"),
      [
        "clusters:",
        "  - { name: aceh, kubeconfig: /dev/null }",
        "  - { name: bali, kubeconfig: /dev/null, env: { PAAS_K8S_GATEWAY: envoy-gateway-system/eg } }",
        "  - { name: papua, kubeconfig: /dev/null }",
        "groups: { west: [aceh, bali] }",
        "",
      ].join("\n"),
    );
    const env = { PAAS_CLUSTERS: join(dir, "clusters.yaml"), PAAS_K8S_GATEWAY: "gateway-system/paas" };
    const plan = (cluster: string) =>
      paas(
        env,
        "plan",
        dir,
        "--env",
        "production",
        "--runtime",
        "kubernetes",
        "--cluster",
        cluster,
        ...common,
      );
    const bali = await plan("bali");
    assert.equal(bali.code, 0, bali.stderr);
    assert.match(bali.stderr, /note: cluster bali, wave 2 of 2/);
    const route = parseAllDocuments(bali.stdout)
      .map((d) => d.toJS() as { kind: string; spec?: { parentRefs?: { namespace: string; name: string }[] } })
      .find((d) => d.kind === "HTTPRoute")!;
    assert.deepEqual(
      route.spec!.parentRefs!.map((p) => `${p.namespace}/${p.name}`),
      ["envoy-gateway-system/eg"],
    );
    const aceh = await plan("aceh");
    assert.equal(aceh.code, 0, aceh.stderr);
    assert.match(
      aceh.stdout,
      /namespace: gateway-system\n\s+name: paas|name: paas\n\s+namespace: gateway-system/,
    );
    const papua = await plan("papua");
    assert.equal(papua.code, 1);
    assert.match(papua.stderr, /production does not run on papua; it runs on aceh, bali/);
    const java = await plan("java");
    assert.notEqual(java.code, 0);
    assert.match(
      java.stderr,
      /--cluster java is not registered in .*clusters\.yaml; registered: aceh, bali, papua/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
