// The pure Kubernetes plan: golden files, official schemas, Pod Security
// "restricted" rules, and the properties users and operators rely on.
import { test } from "node:test";
import assert from "node:assert/strict";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import {
  planKubernetes,
  KubernetesPlanError,
  type KubeObject,
} from "../../../src/runtime/kubernetes/manifests.ts";
import { renderManifests } from "../../../src/runtime/kubernetes/render.ts";
import { namespaceName } from "../../../src/names.ts";
import { validateKubeObject } from "../../fakes/kubernetes-api.ts";
import { assertGolden } from "../../support/golden.ts";
import { restrictedViolations } from "./pod-security.ts";
import {
  AUTOSCALED_YAML,
  HTTPROUTE_SETTINGS,
  INGRESS_SETTINGS,
  PREVIEW_YAML,
  PRODUCTION_YAML,
  specFor,
  WORKLOADS_YAML,
} from "./specs.ts";

const GOLDEN = join(import.meta.dirname, "golden");

const CASES = {
  "preview-httproute": () => planKubernetes(specFor(PREVIEW_YAML, "preview/pr-12"), HTTPROUTE_SETTINGS),
  "production-domains": () =>
    planKubernetes(specFor(PRODUCTION_YAML, "production"), HTTPROUTE_SETTINGS, {
      secretValues: { DATABASE_URL: "postgres://db/shop", SESSION_KEY: "k" },
    }),
  "production-autoscaled": () => planKubernetes(specFor(AUTOSCALED_YAML, "production"), HTTPROUTE_SETTINGS),
  "production-workloads": () => planKubernetes(specFor(WORKLOADS_YAML, "production"), HTTPROUTE_SETTINGS),
  "preview-ingress": () =>
    planKubernetes(specFor(PREVIEW_YAML, "preview/pr-7"), {
      ...INGRESS_SETTINGS,
      egressCIDRs: ["10.20.0.0/16"],
    }),
};

for (const [name, plan] of Object.entries(CASES)) {
  test(`golden: ${name}`, () => {
    assertGolden(join(GOLDEN, `${name}.yaml`), renderManifests(plan()), import.meta.filename);
  });
}

function kinds(objects: KubeObject[]): string[] {
  return objects.map((o) => o.kind);
}
function find(objects: KubeObject[], kind: string, name?: string): KubeObject {
  const o = objects.find((x) => x.kind === kind && (name === undefined || x.metadata.name === name));
  assert.ok(o, `no ${kind} ${name ?? ""}`);
  return o;
}
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

test("every generated object is valid against the official Kubernetes and Gateway API schemas", () => {
  const hostile = specFor(PREVIEW_YAML, "preview/pr-999999999", {
    owner: "Ünïcødé-Org",
    repo: "My_Very.Long.Repository-Name-That-Keeps-Going-And-Going-Beyond-Sixty-Three-Characters",
  });
  const plans = [...Object.values(CASES).map((p) => p()), planKubernetes(hostile, HTTPROUTE_SETTINGS)];
  for (const objects of plans) {
    for (const o of objects) assert.deepEqual(validateKubeObject(o), [], `${o.kind} ${o.metadata.name}`);
  }
});

test("the rendered YAML parses back (as YAML 1.1, like kubectl) to exactly the planned objects", () => {
  for (const plan of Object.values(CASES)) {
    const objects = plan();
    const docs = parseAllDocuments(renderManifests(objects), { version: "1.1" });
    assert.deepEqual(
      (Array.isArray(docs) ? docs : [docs]).map((d) => d.toJS()),
      JSON.parse(JSON.stringify(objects)),
    );
  }
  const cm = find(CASES["preview-httproute"](), "ConfigMap");
  assert.equal((cm.data as Json).FEATURE_X, "yes");
});

test("pods satisfy the Pod Security restricted profile, and the namespace enforces it", () => {
  for (const plan of Object.values(CASES)) {
    const objects = plan();
    const pod = (find(objects, "Deployment").spec as Json).template.spec;
    assert.deepEqual(restrictedViolations(pod), []);
    // The check itself catches a violation.
    assert.ok(
      restrictedViolations({ ...pod, hostNetwork: true, volumes: [{ name: "h", hostPath: { path: "/" } }] })
        .length === 2,
    );
    const c = pod.containers[0];
    assert.equal(c.securityContext.readOnlyRootFilesystem, true);
    assert.deepEqual(c.volumeMounts, [{ name: "tmp", mountPath: "/tmp" }]);
    assert.equal(pod.automountServiceAccountToken, false);
    const ns = find(objects, "Namespace");
    assert.equal(ns.metadata.labels!["pod-security.kubernetes.io/enforce"], "restricted");
  }
});

test("namespace labels identify the environment with label-safe values; exact values are annotations", () => {
  const spec = specFor(PREVIEW_YAML, "preview/pr-12", { owner: "Acme", repo: "Shop.Front_End" });
  const ns = planKubernetes(spec, HTTPROUTE_SETTINGS)[0]!;
  assert.equal(ns.metadata.name, namespaceName(spec.target));
  const l = ns.metadata.labels!;
  assert.equal(l["app.kubernetes.io/managed-by"], "paas");
  assert.equal(l["paas.dev/repository-id"], "4242");
  assert.equal(l["paas.dev/environment"], "pr-12");
  assert.equal(l["paas.dev/pr"], "12");
  assert.equal(l["paas.dev/sha"], spec.sha);
  const a = ns.metadata.annotations!;
  assert.equal(a["paas.dev/repo"], "Shop.Front_End");
  assert.equal(a["paas.dev/environment"], "preview/pr-12");
  assert.deepEqual(validateKubeObject(ns), []);
});

test("an autoscaled deployment has no replicas field and an HPA; fixed replicas have no HPA", () => {
  const auto = planKubernetes(specFor(AUTOSCALED_YAML, "production"), HTTPROUTE_SETTINGS);
  assert.equal("replicas" in (find(auto, "Deployment").spec as Json), false);
  const hpa = find(auto, "HorizontalPodAutoscaler").spec as Json;
  assert.deepEqual([hpa.minReplicas, hpa.maxReplicas], [2, 8]);
  assert.equal(hpa.metrics[0].resource.target.averageUtilization, 60);
  assert.ok(kinds(auto).includes("PodDisruptionBudget"), "production with min 2 replicas gets a PDB");

  const fixed = planKubernetes(specFor(PRODUCTION_YAML, "production"), HTTPROUTE_SETTINGS);
  assert.equal((find(fixed, "Deployment").spec as Json).replicas, 3);
  assert.ok(!kinds(fixed).includes("HorizontalPodAutoscaler"));
});

test("only production with more than one replica gets a PodDisruptionBudget and topology spread", () => {
  const preview = planKubernetes(specFor(PREVIEW_YAML, "preview/pr-1"), HTTPROUTE_SETTINGS);
  assert.ok(!kinds(preview).includes("PodDisruptionBudget"));
  assert.equal((find(preview, "Deployment").spec as Json).template.spec.topologySpreadConstraints, undefined);
  const single = planKubernetes(specFor("run: { port: 8080 }", "production"), HTTPROUTE_SETTINGS);
  assert.ok(!kinds(single).includes("PodDisruptionBudget"), "a PDB on one replica would block node drains");
  const prod = planKubernetes(specFor(PRODUCTION_YAML, "production"), HTTPROUTE_SETTINGS);
  assert.equal((find(prod, "PodDisruptionBudget").spec as Json).maxUnavailable, 1);
  assert.equal((find(prod, "Deployment").spec as Json).template.spec.topologySpreadConstraints.length, 2);
});

test("rolling update keeps every old pod until a new one is ready, and drains on stop", () => {
  const d = find(planKubernetes(specFor(PRODUCTION_YAML, "production"), HTTPROUTE_SETTINGS), "Deployment")
    .spec as Json;
  assert.equal(d.strategy.rollingUpdate.maxUnavailable, 0);
  const c = d.template.spec.containers[0];
  assert.deepEqual(c.lifecycle.preStop, { sleep: { seconds: 5 } });
  assert.ok(d.template.spec.terminationGracePeriodSeconds > 5);
  assert.equal(c.readinessProbe.httpGet.path, "/readyz");
  assert.equal(c.livenessProbe.httpGet.path, "/readyz");
  // startupTimeout 90s at a 10s interval: 9 startup probes before liveness takes over.
  assert.equal(c.startupProbe.failureThreshold, 9);
  assert.equal(c.image, `ghcr.io/acme/shop@sha256:${"ab".repeat(32)}`);
  assert.deepEqual(c.resources, {
    requests: { cpu: "250m", memory: "256Mi" },
    limits: { cpu: "1", memory: "1Gi" },
  });
});

test("routing: core HTTPRoute with the configured Gateway, or Ingress with the configured class", () => {
  const route = find(planKubernetes(specFor(PRODUCTION_YAML, "production"), HTTPROUTE_SETTINGS), "HTTPRoute")
    .spec as Json;
  assert.deepEqual(route.parentRefs[0], {
    group: "gateway.networking.k8s.io",
    kind: "Gateway",
    name: "public",
    namespace: "gateway-system",
    sectionName: "https",
  });
  assert.deepEqual(route.hostnames, ["shop.example.com", "shop.acme.org", "www.shop.acme.org"]);
  assert.equal(route.rules.length, 1);
  assert.equal(route.rules[0].filters, undefined, "no filters: Pingora-based gateways support none");
  assert.deepEqual(route.rules[0].matches, [{ path: { type: "PathPrefix", value: "/" } }]);

  const ing = find(planKubernetes(specFor(PRODUCTION_YAML, "production"), INGRESS_SETTINGS), "Ingress")
    .spec as Json;
  assert.equal(ing.ingressClassName, "nginx");
  assert.deepEqual(
    ing.rules.map((r: Json) => r.host),
    ["shop.example.com", "shop.acme.org", "www.shop.acme.org"],
  );
});

test("a preview never carries production domains", () => {
  const preview = planKubernetes(specFor(PRODUCTION_YAML, "preview/pr-3"), HTTPROUTE_SETTINGS);
  assert.deepEqual((find(preview, "HTTPRoute").spec as Json).hostnames, ["pr-3-shop.example.com"]);
});

test("network policies: default deny, ingress only from the ingress namespaces, DNS egress", () => {
  const objects = planKubernetes(specFor(PREVIEW_YAML, "preview/pr-12"), INGRESS_SETTINGS);
  const pols = objects.filter((o) => o.kind === "NetworkPolicy");
  assert.deepEqual((pols[0]!.spec as Json).policyTypes, ["Ingress", "Egress"]);
  assert.deepEqual((pols[0]!.spec as Json).podSelector, {});
  const allow = find(objects, "NetworkPolicy", "allow-ingress-controller").spec as Json;
  assert.deepEqual(allow.ingress[0].from, [
    {
      namespaceSelector: {
        matchExpressions: [{ key: "kubernetes.io/metadata.name", operator: "In", values: ["ingress-nginx"] }],
      },
    },
  ]);
  assert.equal(allow.ingress[0].ports[0].port, 8000);
  const dns = find(objects, "NetworkPolicy", "allow-dns").spec as Json;
  // Port 5353: OpenShift's DNS pods; any namespace's DNS pods, and NodeLocal DNSCache's address.
  assert.deepEqual(
    dns.egress[0].ports.map((p: Json) => `${p.protocol}/${p.port}`),
    ["UDP/53", "TCP/53", "UDP/5353", "TCP/5353"],
  );
  assert.deepEqual(dns.egress[0].to, [
    { namespaceSelector: {}, podSelector: {} },
    { ipBlock: { cidr: "169.254.20.10/32" } },
  ]);
});

test("network policies: more ingress namespaces (Envoy Gateway's proxies), ipBlock sources, DNS cache addresses", () => {
  const objects = planKubernetes(specFor(PREVIEW_YAML, "preview/pr-12"), {
    ...HTTPROUTE_SETTINGS,
    extraIngressNamespaces: ["envoy-gateway-system"],
    ingressCIDRs: ["10.0.0.0/16"],
    dnsCIDRs: ["169.254.25.10/32"],
  });
  const allow = find(objects, "NetworkPolicy", "allow-ingress-controller").spec as Json;
  assert.deepEqual(allow.ingress[0].from, [
    {
      namespaceSelector: {
        matchExpressions: [
          {
            key: "kubernetes.io/metadata.name",
            operator: "In",
            values: ["gateway-system", "envoy-gateway-system"],
          },
        ],
      },
    },
    { ipBlock: { cidr: "10.0.0.0/16" } },
  ]);
  const dns = find(objects, "NetworkPolicy", "allow-dns").spec as Json;
  assert.deepEqual(dns.egress[0].to[1], { ipBlock: { cidr: "169.254.25.10/32" } });
  for (const o of objects.filter((x) => x.kind === "NetworkPolicy"))
    assert.deepEqual(validateKubeObject(o), []);
  assert.throws(
    () =>
      planKubernetes(specFor(PREVIEW_YAML, "preview/pr-12"), { ...HTTPROUTE_SETTINGS, ingressCIDRs: ["lb"] }),
    /PAAS_K8S_INGRESS_CIDRS: "lb" is not a CIDR/,
  );
});

test("quota forbids NodePorts and LoadBalancers and leaves room for a rolling update", () => {
  const q = find(planKubernetes(specFor(PRODUCTION_YAML, "production"), HTTPROUTE_SETTINGS), "ResourceQuota")
    .spec as Json;
  assert.equal(q.hard["services.nodeports"], "0");
  assert.equal(q.hard["services.loadbalancers"], "0");
  assert.equal(q.hard.pods, "7", "3 replicas, 3 still terminating during a rolling update, one surge pod");
  assert.equal(q.hard["limits.cpu"], "7000m");
});

test("quota arithmetic stays exact for huge amounts", () => {
  const huge = specFor(
    `run: { port: 8080 }\nresources: { requests: { memory: 9999999Ti }, limits: { memory: 9999999Ti } }\nscale: { replicas: 1000 }`,
    "preview/pr-1",
  );
  const q = find(planKubernetes(huge, HTTPROUTE_SETTINGS), "ResourceQuota");
  assert.equal((q.spec as Json).hard["limits.memory"], String(9999999n * 2n ** 40n * 2250n));
  assert.deepEqual(validateKubeObject(q), []);
});

test("env goes to a ConfigMap; secrets are referenced, and their values only appear when given", () => {
  const spec = specFor(PRODUCTION_YAML, "production");
  const dry = planKubernetes(spec, HTTPROUTE_SETTINGS);
  assert.ok(!kinds(dry).includes("Secret"), "the dry run holds no secret values");
  const cm = find(dry, "ConfigMap").data as Json;
  assert.equal(cm.PAAS_COMMIT_SHA, spec.sha);
  assert.equal(cm.PORT, "8080");
  assert.equal(cm.PAAS_URL, "https://shop.example.com/");
  const envFrom = (find(dry, "Deployment").spec as Json).template.spec.containers[0].envFrom;
  assert.deepEqual(envFrom, [{ configMapRef: { name: "web-env" } }, { secretRef: { name: "web-secrets" } }]);

  const a = planKubernetes(spec, HTTPROUTE_SETTINGS, {
    secretValues: { DATABASE_URL: "one", SESSION_KEY: "s" },
  });
  const b = planKubernetes(spec, HTTPROUTE_SETTINGS, {
    secretValues: { DATABASE_URL: "two", SESSION_KEY: "s" },
  });
  assert.equal(Buffer.from((find(a, "Secret").data as Json).DATABASE_URL, "base64").toString(), "one");
  const hashOf = (o: KubeObject[]) =>
    (find(o, "Deployment").spec as Json).template.metadata.annotations["paas.dev/secret-hash"];
  assert.notEqual(hashOf(a), hashOf(b), "a changed secret value rolls the pods");
  assert.throws(
    () => planKubernetes(spec, HTTPROUTE_SETTINGS, { secretValues: { DATABASE_URL: "x" } }),
    /SESSION_KEY/,
  );
});

test("the plan is deterministic and changes the pod template only when the pods must change", () => {
  const spec = specFor(PRODUCTION_YAML, "production");
  assert.deepEqual(planKubernetes(spec, HTTPROUTE_SETTINGS), planKubernetes(spec, HTTPROUTE_SETTINGS));
  const template = (s: typeof spec) =>
    (find(planKubernetes(s, HTTPROUTE_SETTINGS), "Deployment").spec as Json).template;
  const other = specFor(PRODUCTION_YAML, "production", { sha: "f".repeat(40) });
  assert.notDeepEqual(
    template(spec).metadata.labels["paas.dev/template"],
    template(other).metadata.labels["paas.dev/template"],
  );
});

test("settings the API server would reject are refused with the variable to fix", () => {
  const spec = specFor(PREVIEW_YAML, "preview/pr-1");
  assert.throws(
    () => planKubernetes(spec, { routing: "httproute", ingressNamespace: "gw" }),
    (e: unknown) => {
      assert.ok(e instanceof KubernetesPlanError);
      assert.match(e.message, /PAAS_K8S_GATEWAY/);
      return true;
    },
  );
  assert.throws(
    () => planKubernetes(spec, { ...INGRESS_SETTINGS, ingressNamespace: "Bad_NS" }),
    /PAAS_K8S_INGRESS_NAMESPACE/,
  );
  assert.throws(
    () => planKubernetes(spec, { ...INGRESS_SETTINGS, egressCIDRs: ["everything"] }),
    /PAAS_K8S_EGRESS_CIDRS/,
  );
});

test("hostile owner, repository, app and PR inputs always give objects the API server accepts", async () => {
  const fc = (await import("fast-check")).default;
  const { planDeploy } = await import("../../../src/core/plan.ts");
  const { parseConfig, resolveApps } = await import("../../../src/config/load.ts");
  const [app] = resolveApps(
    parseConfig(
      "run: { port: 8080 }\nenvironments: { production: { branch: main, domains: [a.example.org] } }",
    ),
  );
  const hostile = fc.string({
    unit: fc.constantFrom(..."aZ09-_.ÄéßŁ😀 /\\:@\n\"'{}".split("")),
    minLength: 1,
    maxLength: 120,
  });
  fc.assert(
    fc.property(
      hostile,
      hostile,
      fc.option(hostile, { nil: "" }),
      fc.oneof(fc.integer({ min: 1, max: 999_999_999 }), fc.constant(0)),
      (owner, repo, appKey, pr) => {
        const spec = planDeploy(
          {
            target: {
              owner,
              repo,
              app: appKey,
              environment: pr ? { kind: "preview", pr } : { kind: "named", name: "production" },
            },
            repositoryId: 1,
            config: app!.config,
            image: `ghcr.io/x/y@sha256:${"e".repeat(64)}`,
            sha: "a".repeat(40),
          },
          { baseDomain: "example.com", urlScheme: "https" },
        );
        for (const settings of [HTTPROUTE_SETTINGS, INGRESS_SETTINGS]) {
          for (const o of planKubernetes(spec, settings)) {
            assert.deepEqual(
              validateKubeObject(o),
              [],
              `${o.kind} for ${JSON.stringify([owner, repo, appKey])}`,
            );
          }
        }
      },
    ),
    { numRuns: 150 },
  );
});

test("private images: the registry credential is copied into the environment and referenced by its pods", () => {
  const settings = { ...HTTPROUTE_SETTINGS, imagePullSecret: "ghcr-pull" };
  const spec = specFor(PREVIEW_YAML, "preview/pr-2");
  const config = Buffer.from(JSON.stringify({ auths: { "ghcr.io": { auth: "eDp5" } } })).toString("base64");
  const objects = planKubernetes(spec, settings, { pullSecret: config });
  const secret = find(objects, "Secret", "web-registry");
  assert.equal(secret.type, "kubernetes.io/dockerconfigjson");
  assert.deepEqual(secret.data, { ".dockerconfigjson": config });
  assert.deepEqual(validateKubeObject(secret), []);
  assert.deepEqual((find(objects, "Deployment").spec as Json).template.spec.imagePullSecrets, [
    { name: "web-registry" },
  ]);
  const dry = planKubernetes(spec, settings);
  assert.ok(!dry.some((o) => o.metadata.name === "web-registry"), "the dry run holds no credentials");
  assert.equal(
    (find(planKubernetes(spec, HTTPROUTE_SETTINGS), "Deployment").spec as Json).template.spec
      .imagePullSecrets,
    undefined,
  );
});

test("secrets named constructor, toString or hasOwnProperty keep their own names in the Secret", () => {
  const names = ["constructor", "hasOwnProperty", "toString"];
  const spec = specFor(`secrets: [${names.join(", ")}]\n`, "production");
  assert.deepEqual(spec.secrets, names);
  const secretValues = Object.fromEntries(names.map((n) => [n, `value of ${n}`]));
  const secret = find(planKubernetes(spec, HTTPROUTE_SETTINGS, { secretValues }), "Secret", "web-secrets");
  const data = secret.data as Record<string, string>;
  assert.deepEqual(Object.keys(data), names);
  for (const n of names) assert.equal(Buffer.from(data[n]!, "base64").toString(), `value of ${n}`);
  // A value the source did not return is missing, although every object has such a property.
  assert.throws(
    () => planKubernetes(spec, HTTPROUTE_SETTINGS, { secretValues: {} }),
    /no value for secret constructor, hasOwnProperty, toString/,
  );
});

test("a plain start command runs in exec form, shell syntax through /bin/sh -c", () => {
  const container = (yaml: string) => {
    const deployment = planKubernetes(specFor(yaml, "preview/pr-3"), HTTPROUTE_SETTINGS).find(
      (o) => o.kind === "Deployment",
    ) as { spec: { template: { spec: { containers: { command?: string[] }[] } } } } | undefined;
    return deployment!.spec.template.spec.containers[0]!;
  };
  // Distroless-like runtime images have no /bin/sh: a plain argv must not need one.
  assert.deepEqual(container("run: { command: ./hello --verbose }").command, ["./hello", "--verbose"]);
  assert.deepEqual(container("run: { command: python -m http.server $PORT }").command, [
    "/bin/sh",
    "-c",
    "python -m http.server $PORT",
  ]);
  assert.equal(container("run: { port: 8080 }").command, undefined);
});

test("with the App's ServiceAccount set, each environment binds it paas-tenant-reader (no cluster-wide pod reads)", () => {
  const without = planKubernetes(specFor(PREVIEW_YAML, "preview/pr-3"), HTTPROUTE_SETTINGS);
  assert.ok(!kinds(without).includes("RoleBinding"));
  const objects = planKubernetes(specFor(PREVIEW_YAML, "preview/pr-3"), {
    ...HTTPROUTE_SETTINGS,
    appServiceAccount: { namespace: "paas-system", name: "paas" },
  });
  const binding = find(objects, "RoleBinding", "paas-diagnosis");
  assert.equal(binding.metadata.namespace, objects[0]!.metadata.name);
  assert.deepEqual(binding.roleRef, {
    apiGroup: "rbac.authorization.k8s.io",
    kind: "ClusterRole",
    name: "paas-tenant-reader",
  });
  assert.deepEqual(binding.subjects, [{ kind: "ServiceAccount", namespace: "paas-system", name: "paas" }]);
  assert.deepEqual(validateKubeObject(binding), []);
  // Bound before the pods exist, so a failed rollout can be diagnosed.
  assert.ok(kinds(objects).indexOf("RoleBinding") < kinds(objects).indexOf("Deployment"));
});
