// Builds the Kubernetes runtime from operator settings (PAAS_K8S_* environment
// variables, read by the App and by `paas plan --runtime kubernetes`).
import { hostname } from "node:os";
import type { KubeConfig } from "@kubernetes/client-node";
import { z } from "zod";
import { PaasError } from "../../errors.ts";
import { loadKubeConfig } from "./client.ts";
import { LeaseLock } from "./lease.ts";
import { validateSettings, type KubernetesSettings, type SleepSettings } from "./settings.ts";
import { KubernetesRuntime } from "./runtime.ts";
import { KubernetesSecretSource } from "./secrets.ts";

export { KubernetesRuntime } from "./runtime.ts";
export { planKubernetes, type KubeObject, type KubernetesSettings } from "./manifests.ts";
export { renderManifests } from "./render.ts";
export { LeaseLock, MemoryLock, type Lock, type Held } from "./lease.ts";
export { KubernetesSecretSource, secretNameFor, secretKeys } from "./secrets.ts";
export { loadKubeConfig, KubernetesApiError } from "./client.ts";

const name = /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?$/;

export const kubernetesEnvSchema = z.object({
  PAAS_K8S_ROUTING: z
    .enum(["httproute", "ingress"], { error: "PAAS_K8S_ROUTING must be httproute or ingress" })
    .default("httproute"),
  /** namespace/name[/sectionName] of the parent Gateway of every HTTPRoute. */
  PAAS_K8S_GATEWAY: z
    .string()
    .regex(
      /^[a-z0-9-]+\/[a-z0-9.-]+(?:\/[a-z0-9-]+)?$/,
      "PAAS_K8S_GATEWAY must be namespace/name or namespace/name/section",
    )
    .optional(),
  PAAS_K8S_INGRESS_CLASS: z.string().optional(),
  /**
   * Namespaces (comma-separated) of the gateway or ingress controller pods, e.g.
   * envoy-gateway-system. Default: the Gateway's namespace when routing is httproute.
   */
  PAAS_K8S_INGRESS_NAMESPACE: z
    .string()
    .regex(
      /^[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?(?:\s*,\s*[a-z0-9](?:[-a-z0-9]{0,61}[a-z0-9])?)*$/,
      "PAAS_K8S_INGRESS_NAMESPACE must be namespace names, comma-separated",
    )
    .optional(),
  /** Which App deployed an environment (a label value); default app-<APP_ID>. */
  PAAS_K8S_INSTANCE: z.string().optional(),
  /** Comma-separated source CIDRs allowed to reach app pods directly (load balancers in IP mode). */
  PAAS_K8S_INGRESS_CIDRS: z.string().optional(),
  /** Comma-separated addresses of a node-local DNS cache; default 169.254.20.10/32 (NodeLocal DNSCache). */
  PAAS_K8S_DNS_CIDRS: z.string().optional(),
  /** Comma-separated CIDRs app pods may reach besides DNS (databases, APIs). */
  PAAS_K8S_EGRESS_CIDRS: z.string().optional(),
  /** "<cpu>,<memory>": per-container ceiling in every environment's LimitRange. */
  PAAS_K8S_MAX_CONTAINER: z
    .string()
    .regex(/^[^,]+,[^,]+$/, "PAAS_K8S_MAX_CONTAINER must be <cpu>,<memory> such as 4,8Gi")
    .optional(),
  PAAS_K8S_TMP_SIZE: z.string().optional(),
  PAAS_K8S_STORAGE_CLASS: z.string().optional(),
  /** A docker-registry Secret in PAAS_K8S_SECRETS_NAMESPACE, copied into every environment for private images. */
  PAAS_K8S_IMAGE_PULL_SECRET: z.string().optional(),
  PAAS_K8S_FIELD_MANAGER: z
    .string()
    .regex(/^[a-z0-9-]{1,64}$/, "PAAS_K8S_FIELD_MANAGER must be lowercase letters, digits and -")
    .optional(),
  /** Namespace of the operator's paas-secrets.<owner>.<repo> Secrets. */
  PAAS_K8S_SECRETS_NAMESPACE: z
    .string()
    .regex(name, "PAAS_K8S_SECRETS_NAMESPACE must be a namespace name")
    .optional(),
  /** Namespace of the deploy Leases (the App's own). */
  PAAS_K8S_LEASE_NAMESPACE: z
    .string()
    .regex(name, "PAAS_K8S_LEASE_NAMESPACE must be a namespace name")
    .optional(),
  /**
   * namespace/name of the App's ServiceAccount (k8s/: paas-system/paas): each environment
   * binds it the ClusterRole paas-tenant-reader, the App's only read access to tenant pods,
   * events and logs.
   */
  PAAS_K8S_SERVICE_ACCOUNT: z
    .string()
    .regex(/^[a-z0-9-]+\/[a-z0-9-]+$/, "PAAS_K8S_SERVICE_ACCOUNT must be namespace/name")
    .optional(),
  /**
   * Sleeping environments: Prometheus text-format metrics of the Gateway implementation with a
   * per-backend request counter (Traefik: its /metrics with Prometheus metrics enabled).
   */
  PAAS_K8S_ACTIVITY_METRICS_URL: z.string().optional(),
  /** The counter sample's name, e.g. traefik_service_requests_total. */
  PAAS_K8S_ACTIVITY_COUNTER: z.string().optional(),
  /** <label>=<pattern>: the label naming the backend, `{namespace}` and `*` in its value. */
  PAAS_K8S_ACTIVITY_LABEL: z
    .string()
    .regex(
      /^[^=]+=.+$/,
      'PAAS_K8S_ACTIVITY_LABEL must be <label>=<pattern> such as "service={namespace}-web-http-80@*"',
    )
    .optional(),
  /** <namespace>/<name>:<port> of the App's Service: a sleeping environment's route sends requests there. */
  PAAS_K8S_WAKE_SERVICE: z
    .string()
    .regex(
      /^[^/]+\/[^:]+:\d+$/,
      "PAAS_K8S_WAKE_SERVICE must be <namespace>/<name>:<port> of the App's Service, e.g. paas-system/paas:80",
    )
    .optional(),
  /** Lease holder name; default the host name (the pod name in a cluster). */
  PAAS_K8S_LEASE_IDENTITY: z.string().min(1).max(128).optional(),
});

export class KubernetesSettingsError extends PaasError {
  constructor(message: string) {
    super("kubernetes_settings", message);
  }
}

export interface KubernetesEnvSettings {
  settings: KubernetesSettings;
  secretsNamespace: string | undefined;
  leaseNamespace: string | undefined;
  leaseIdentity: string;
}

/** Reads and checks PAAS_K8S_*; the message names the variable and the fix. */
export function kubernetesSettingsFromEnv(env: Record<string, string | undefined>): KubernetesEnvSettings {
  const defined = Object.fromEntries(
    Object.entries(env).filter(([, v]) => v !== undefined && v.trim() !== ""),
  );
  const parsed = kubernetesEnvSchema.safeParse(defined);
  if (!parsed.success)
    throw new KubernetesSettingsError(parsed.error.issues.map((i) => i.message).join("; "));
  const e = parsed.data;
  const [gwNamespace, gwName, section] = e.PAAS_K8S_GATEWAY?.split("/") ?? [];
  const ingressNamespaces = list(e.PAAS_K8S_INGRESS_NAMESPACE) ?? [];
  const serviceAccount = e.PAAS_K8S_SERVICE_ACCOUNT?.split("/");
  const [maxCpu, maxMemory] = e.PAAS_K8S_MAX_CONTAINER?.split(",").map((s) => s.trim()) ?? [];
  const settings: KubernetesSettings = {
    routing: e.PAAS_K8S_ROUTING,
    gateway:
      gwNamespace && gwName
        ? { namespace: gwNamespace, name: gwName, ...(section ? { sectionName: section } : {}) }
        : undefined,
    ingressClassName: e.PAAS_K8S_INGRESS_CLASS,
    ingressNamespace: ingressNamespaces[0] ?? (e.PAAS_K8S_ROUTING === "httproute" ? (gwNamespace ?? "") : ""),
    extraIngressNamespaces: ingressNamespaces.length > 1 ? ingressNamespaces.slice(1) : undefined,
    ingressCIDRs: list(e.PAAS_K8S_INGRESS_CIDRS),
    dnsCIDRs: list(e.PAAS_K8S_DNS_CIDRS),
    fieldManager: e.PAAS_K8S_FIELD_MANAGER,
    egressCIDRs: list(e.PAAS_K8S_EGRESS_CIDRS),
    maxContainer: maxCpu && maxMemory ? { cpu: maxCpu, memory: maxMemory } : undefined,
    tmpSize: e.PAAS_K8S_TMP_SIZE,
    storageClass: e.PAAS_K8S_STORAGE_CLASS,
    imagePullSecret: e.PAAS_K8S_IMAGE_PULL_SECRET,
    appServiceAccount: serviceAccount
      ? { namespace: serviceAccount[0]!, name: serviceAccount[1]! }
      : undefined,
    // The App's own id by default: two Apps on one cluster never take each other's environments.
    instance: e.PAAS_K8S_INSTANCE ?? (defined.APP_ID ? `app-${defined.APP_ID.trim()}` : undefined),
  };
  settings.sleep = sleepSettings(e);
  if (!settings.ingressNamespace && settings.routing === "ingress") {
    throw new KubernetesSettingsError(
      "PAAS_K8S_INGRESS_NAMESPACE is required with ingress routing: the namespace of the ingress controller pods",
    );
  }
  try {
    validateSettings(settings);
  } catch (err) {
    throw new KubernetesSettingsError((err as Error).message);
  }
  return {
    settings,
    secretsNamespace: e.PAAS_K8S_SECRETS_NAMESPACE,
    leaseNamespace: e.PAAS_K8S_LEASE_NAMESPACE,
    leaseIdentity: e.PAAS_K8S_LEASE_IDENTITY ?? hostname(),
  };
}

/** All four sleep variables or none: a part of them would make a setup that never sleeps or never wakes. */
function sleepSettings(e: z.infer<typeof kubernetesEnvSchema>): SleepSettings | undefined {
  const vars = {
    PAAS_K8S_ACTIVITY_METRICS_URL: e.PAAS_K8S_ACTIVITY_METRICS_URL,
    PAAS_K8S_ACTIVITY_COUNTER: e.PAAS_K8S_ACTIVITY_COUNTER,
    PAAS_K8S_ACTIVITY_LABEL: e.PAAS_K8S_ACTIVITY_LABEL,
    PAAS_K8S_WAKE_SERVICE: e.PAAS_K8S_WAKE_SERVICE,
  };
  const missing = Object.entries(vars).filter(([, v]) => v === undefined);
  if (missing.length === 4) return undefined;
  if (missing.length > 0) {
    throw new KubernetesSettingsError(
      `sleeping environments need all of ${Object.keys(vars).join(", ")}: set ${missing.map(([k]) => k).join(", ")} too, or unset the others`,
    );
  }
  const label = e.PAAS_K8S_ACTIVITY_LABEL!;
  const eq = label.indexOf("=");
  const [svcNamespace, rest] = e.PAAS_K8S_WAKE_SERVICE!.split("/") as [string, string];
  const [svcName, port] = rest.split(":") as [string, string];
  return {
    metricsUrl: e.PAAS_K8S_ACTIVITY_METRICS_URL!,
    counter: e.PAAS_K8S_ACTIVITY_COUNTER!,
    label: label.slice(0, eq).trim(),
    pattern: label.slice(eq + 1).trim(),
    wakeService: { namespace: svcNamespace, name: svcName, port: Number(port) },
  };
}

/** A comma-separated list; undefined when unset. */
function list(value: string | undefined): string[] | undefined {
  return value
    ?.split(",")
    .map((s) => s.trim())
    .filter(Boolean);
}

/** The runtime, its secret source and (when a lease namespace is set) the cross-replica lock. */
export function createKubernetesRuntime(
  env: Record<string, string | undefined>,
  kubeConfig: KubeConfig = loadKubeConfig(env as NodeJS.ProcessEnv),
): { runtime: KubernetesRuntime; lock: LeaseLock | undefined } {
  const s = kubernetesSettingsFromEnv(env);
  const secrets = s.secretsNamespace
    ? new KubernetesSecretSource({ kubeConfig, namespace: s.secretsNamespace })
    : undefined;
  const runtime = new KubernetesRuntime({
    kubeConfig,
    settings: s.settings,
    secrets,
    secretsNamespace: s.secretsNamespace,
  });
  const lock = s.leaseNamespace
    ? new LeaseLock({ kubeConfig, namespace: s.leaseNamespace, identity: s.leaseIdentity })
    : undefined;
  return { runtime, lock };
}
