// Sample DeploySpecs, planned from real .paas.yml text through the core planner.
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import { parseEnvironment } from "../../../src/names.ts";
import type { DeploySpec } from "../../../src/runtime/types.ts";
import type { KubernetesSettings } from "../../../src/runtime/kubernetes/manifests.ts";

export const DIGEST = `sha256:${"ab".repeat(32)}`;
export const SHA = "0123456789abcdef0123456789abcdef01234567";

export const HTTPROUTE_SETTINGS: KubernetesSettings = {
  routing: "httproute",
  gateway: { name: "public", namespace: "gateway-system", sectionName: "https" },
  ingressNamespace: "gateway-system",
};

export const INGRESS_SETTINGS: KubernetesSettings = {
  routing: "ingress",
  ingressClassName: "nginx",
  ingressNamespace: "ingress-nginx",
};

export function specFor(
  yaml: string,
  environment: string,
  o: { image?: string; repo?: string; owner?: string; repositoryId?: number; sha?: string } = {},
): DeploySpec {
  const [app] = resolveApps(parseConfig(yaml));
  return planDeploy(
    {
      target: {
        owner: o.owner ?? "acme",
        repo: o.repo ?? "shop",
        app: "",
        environment: parseEnvironment(environment),
      },
      repositoryId: o.repositoryId ?? 4242,
      config: app!.config,
      image: o.image ?? `ghcr.io/acme/shop@${DIGEST}`,
      sha: o.sha ?? SHA,
    },
    { baseDomain: "example.com", urlScheme: "https" },
  );
}

export const PREVIEW_YAML = `
run:
  command: python -m http.server $PORT
  port: 8000
  healthcheck:
    path: /healthz
env:
  LOG_LEVEL: info
  FEATURE_X: "yes"
previews:
  secrets: [STRIPE_TEST_KEY]
secrets: [DATABASE_URL]
`;

export const PRODUCTION_YAML = `
run:
  port: 8080
  healthcheck:
    path: /readyz
    startupTimeout: 90s
resources:
  requests: { cpu: 250m, memory: 256Mi }
  limits: { cpu: "1", memory: 1Gi }
scale:
  replicas: 3
secrets: [DATABASE_URL, SESSION_KEY]
environments:
  production:
    branch: main
    domains: [shop.acme.org, www.shop.acme.org]
`;

export const AUTOSCALED_YAML = `
run:
  port: 8080
scale:
  autoscale: { min: 2, max: 8, targetCPU: 60 }
environments:
  production:
    branch: main
`;

/** Release step, two workers, scheduled jobs and internet egress (issue #15). */
export const WORKLOADS_YAML = `
run:
  port: 8080
  release: python manage.py migrate
resources:
  requests: { cpu: 100m, memory: 128Mi }
  limits: { cpu: 500m, memory: 256Mi }
processes:
  worker: python worker.py --queue default
  mailer:
    command: python mailer.py
    scale: { replicas: 2 }
    resources: { limits: { memory: 512Mi } }
cron:
  - { name: cleanup, schedule: "*/15 * * * *", command: "python manage.py cleanup && echo done" }
  - { schedule: "@daily", command: python report.py }
network:
  egress: internet
environments:
  production:
    branch: main
`;
