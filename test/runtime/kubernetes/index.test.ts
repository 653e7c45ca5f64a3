// PAAS_K8S_* settings as operators write them.
import { test } from "node:test";
import assert from "node:assert/strict";
import { kubernetesSettingsFromEnv, KubernetesSettingsError } from "../../../src/runtime/kubernetes/index.ts";

test("gateway routing: namespace/name/section, ingress namespace defaults to the Gateway's", () => {
  const s = kubernetesSettingsFromEnv({ PAAS_K8S_GATEWAY: "envoy-gateway-system/paas/http" });
  assert.deepEqual(s.settings.gateway, {
    namespace: "envoy-gateway-system",
    name: "paas",
    sectionName: "http",
  });
  assert.equal(s.settings.routing, "httproute");
  assert.equal(s.settings.ingressNamespace, "envoy-gateway-system");
  assert.equal(s.secretsNamespace, undefined);
});

test("ingress routing with class, egress CIDRs and a container ceiling", () => {
  const s = kubernetesSettingsFromEnv({
    PAAS_K8S_ROUTING: "ingress",
    PAAS_K8S_INGRESS_CLASS: "nginx",
    PAAS_K8S_INGRESS_NAMESPACE: "ingress-nginx",
    PAAS_K8S_EGRESS_CIDRS: "10.0.0.0/8, 192.168.1.0/24",
    PAAS_K8S_MAX_CONTAINER: "4,8Gi",
    PAAS_K8S_SECRETS_NAMESPACE: "paas-secrets",
    PAAS_K8S_LEASE_NAMESPACE: "paas-system",
    PAAS_K8S_LEASE_IDENTITY: "paas-7d9f-abcde",
  });
  assert.equal(s.settings.ingressClassName, "nginx");
  assert.deepEqual(s.settings.egressCIDRs, ["10.0.0.0/8", "192.168.1.0/24"]);
  assert.deepEqual(s.settings.maxContainer, { cpu: "4", memory: "8Gi" });
  assert.equal(s.leaseIdentity, "paas-7d9f-abcde");
});

test("several ingress namespaces, ingress CIDRs and DNS cache addresses", () => {
  const s = kubernetesSettingsFromEnv({
    PAAS_K8S_GATEWAY: "gateway-system/public",
    PAAS_K8S_INGRESS_NAMESPACE: "gateway-system, envoy-gateway-system",
    PAAS_K8S_INGRESS_CIDRS: "10.0.0.0/16",
    PAAS_K8S_DNS_CIDRS: "169.254.20.10/32,169.254.25.10/32",
  });
  assert.equal(s.settings.ingressNamespace, "gateway-system");
  assert.deepEqual(s.settings.extraIngressNamespaces, ["envoy-gateway-system"]);
  assert.deepEqual(s.settings.ingressCIDRs, ["10.0.0.0/16"]);
  assert.deepEqual(s.settings.dnsCIDRs, ["169.254.20.10/32", "169.254.25.10/32"]);
  assert.equal(s.settings.appServiceAccount, undefined);
  const inCluster = kubernetesSettingsFromEnv({
    PAAS_K8S_GATEWAY: "gateway-system/public",
    PAAS_K8S_SERVICE_ACCOUNT: "paas-system/paas",
  });
  assert.deepEqual(inCluster.settings.appServiceAccount, { namespace: "paas-system", name: "paas" });
});

test("mistakes name the variable to fix", () => {
  const bad = (env: Record<string, string>, re: RegExp) =>
    assert.throws(
      () => kubernetesSettingsFromEnv(env),
      (e: unknown) => e instanceof KubernetesSettingsError && re.test(e.message),
    );
  bad({}, /PAAS_K8S_GATEWAY must name the parent Gateway/);
  bad({ PAAS_K8S_ROUTING: "ingress" }, /PAAS_K8S_INGRESS_NAMESPACE is required/);
  bad({ PAAS_K8S_ROUTING: "istio" }, /PAAS_K8S_ROUTING must be httproute or ingress/);
  bad({ PAAS_K8S_GATEWAY: "just-a-name" }, /PAAS_K8S_GATEWAY must be namespace\/name/);
  bad({ PAAS_K8S_GATEWAY: "gw/public", PAAS_K8S_EGRESS_CIDRS: "anywhere" }, /PAAS_K8S_EGRESS_CIDRS/);
  bad({ PAAS_K8S_GATEWAY: "gw/public", PAAS_K8S_INGRESS_CIDRS: "lb" }, /PAAS_K8S_INGRESS_CIDRS/);
  bad({ PAAS_K8S_GATEWAY: "gw/public", PAAS_K8S_DNS_CIDRS: "x" }, /PAAS_K8S_DNS_CIDRS/);
  bad({ PAAS_K8S_GATEWAY: "gw/public", PAAS_K8S_SERVICE_ACCOUNT: "paas" }, /PAAS_K8S_SERVICE_ACCOUNT/);
  bad({ PAAS_K8S_GATEWAY: "gw/public", PAAS_K8S_INGRESS_NAMESPACE: "a,B_" }, /comma-separated/);
});

test("cluster credentials: KUBECONFIG, else ~/.kube/config, else in-cluster; never a silent localhost", async () => {
  const { mkdtempSync, writeFileSync, mkdirSync, rmSync } = await import("node:fs");
  const { join } = await import("node:path");
  const { tmpdir } = await import("node:os");
  const { loadKubeConfig } = await import("../../../src/runtime/kubernetes/client.ts");
  const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
  try {
    const kubeconfig = (server: string) =>
      `apiVersion: v1\nkind: Config\nclusters: [{name: c, cluster: {server: "${server}"}}]\nusers: [{name: u, user: {token: t}}]\ncontexts: [{name: x, context: {cluster: c, user: u}}]\ncurrent-context: x\n`;
    writeFileSync(join(dir, "a.yaml"), kubeconfig("https://a.example:6443"));
    assert.equal(
      loadKubeConfig({ KUBECONFIG: join(dir, "a.yaml") }, dir).getCurrentCluster()?.server,
      "https://a.example:6443",
    );
    mkdirSync(join(dir, ".kube"));
    writeFileSync(join(dir, ".kube", "config"), kubeconfig("https://home.example:6443"));
    assert.equal(loadKubeConfig({}, dir).getCurrentCluster()?.server, "https://home.example:6443");
    // In a pod, the service's address comes from the environment the kubelet sets (read by the library).
    const saved = { host: process.env.KUBERNETES_SERVICE_HOST, port: process.env.KUBERNETES_SERVICE_PORT };
    Object.assign(process.env, { KUBERNETES_SERVICE_HOST: "10.0.0.1", KUBERNETES_SERVICE_PORT: "443" });
    try {
      assert.equal(loadKubeConfig(process.env, dir).getCurrentCluster()?.server, "https://10.0.0.1:443");
    } finally {
      for (const [k, v] of [
        ["KUBERNETES_SERVICE_HOST", saved.host],
        ["KUBERNETES_SERVICE_PORT", saved.port],
      ] as const) {
        if (v === undefined) delete process.env[k];
        else process.env[k] = v;
      }
    }
    assert.throws(
      () => loadKubeConfig({}, join(dir, "nowhere")),
      /no Kubernetes cluster configured: set KUBECONFIG/,
    );
    assert.throws(
      () => loadKubeConfig({ KUBECONFIG: join(dir, "missing.yaml") }, dir),
      /kubeconfig cannot be read/,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const SLEEP_ENV = {
  PAAS_K8S_GATEWAY: "paas-gateway/paas",
  PAAS_K8S_ACTIVITY_METRICS_URL: "http://traefik-metrics.paas-gateway:9100/metrics",
  PAAS_K8S_ACTIVITY_COUNTER: "traefik_service_requests_total",
  PAAS_K8S_ACTIVITY_LABEL: "service={namespace}-web-http-80@*",
  PAAS_K8S_WAKE_SERVICE: "paas-system/paas:80",
};

test("sleep settings: the metrics, the counter, the label's pattern and the App's Service", () => {
  assert.deepEqual(kubernetesSettingsFromEnv(SLEEP_ENV).settings.sleep, {
    metricsUrl: "http://traefik-metrics.paas-gateway:9100/metrics",
    counter: "traefik_service_requests_total",
    label: "service",
    pattern: "{namespace}-web-http-80@*",
    wakeService: { namespace: "paas-system", name: "paas", port: 80 },
  });
  // None of them: nothing sleeps.
  assert.equal(kubernetesSettingsFromEnv({ PAAS_K8S_GATEWAY: "g/p" }).settings.sleep, undefined);
});

test("sleep settings: a part of them, a bad value or ingress routing name the variable to fix", () => {
  const bad = (env: Record<string, string | undefined>, message: RegExp) =>
    assert.throws(
      () => kubernetesSettingsFromEnv({ ...SLEEP_ENV, ...env }),
      (e: unknown) => e instanceof KubernetesSettingsError && message.test(e.message),
    );
  bad({ PAAS_K8S_WAKE_SERVICE: undefined }, /set PAAS_K8S_WAKE_SERVICE too, or unset the others/);
  bad({ PAAS_K8S_WAKE_SERVICE: "paas" }, /PAAS_K8S_WAKE_SERVICE must be <namespace>\/<name>:<port>/);
  bad({ PAAS_K8S_WAKE_SERVICE: "paas-system/paas:99999" }, /PAAS_K8S_WAKE_SERVICE must be/);
  bad(
    { PAAS_K8S_ACTIVITY_METRICS_URL: "traefik:9100/metrics" },
    /PAAS_K8S_ACTIVITY_METRICS_URL must be an http/,
  );
  bad({ PAAS_K8S_ACTIVITY_COUNTER: "requests total" }, /PAAS_K8S_ACTIVITY_COUNTER must be a metric name/);
  bad({ PAAS_K8S_ACTIVITY_LABEL: "service" }, /PAAS_K8S_ACTIVITY_LABEL must be <label>=<pattern>/);
  bad({ PAAS_K8S_ACTIVITY_LABEL: "service=*-web-http-80" }, /must contain \{namespace\} once/);
  bad(
    { PAAS_K8S_ROUTING: "ingress", PAAS_K8S_INGRESS_NAMESPACE: "ingress-nginx" },
    /need PAAS_K8S_ROUTING=httproute/,
  );
});
