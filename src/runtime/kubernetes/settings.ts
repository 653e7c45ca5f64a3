// Operator settings of the Kubernetes runtime (PAAS_K8S_* variables) and their
// validation: its own module because the App and `paas plan` check them before
// any plan is made, and every planned object reads them.
import { PaasError } from "../../errors.ts";

/** Operator settings of the Kubernetes runtime (from PAAS_K8S_* variables). */
export interface KubernetesSettings {
  /** Gateway API HTTPRoute (default) or networking.k8s.io Ingress. */
  routing: "httproute" | "ingress";
  /** Parent Gateway of every HTTPRoute; required when routing is "httproute". */
  gateway?: { name: string; namespace: string; sectionName?: string } | undefined;
  /** IngressClass of every Ingress; the cluster default class when unset. */
  ingressClassName?: string | undefined;
  /** Namespace of the ingress controller or Gateway pods: allowed in by the NetworkPolicy. */
  ingressNamespace: string;
  /**
   * More namespaces whose pods may reach app pods, e.g. envoy-gateway-system,
   * where Envoy Gateway runs its proxies apart from the Gateway. Default: none.
   */
  extraIngressNamespaces?: string[] | undefined;
  /**
   * Source CIDRs allowed in besides those namespaces: load balancers that send
   * straight to pod IPs (AWS NLB in IP mode, GKE container-native). Default: none.
   */
  ingressCIDRs?: string[] | undefined;
  /**
   * Addresses of a node-local DNS cache (NodeLocal DNSCache listens on a
   * link-local IP on every node, outside any namespace). Default 169.254.20.10/32.
   */
  dnsCIDRs?: string[] | undefined;
  /** Server-side apply field manager. Default "paas". */
  fieldManager?: string | undefined;
  /** Extra egress destinations (CIDRs) beyond DNS, e.g. a database subnet. Default: none. */
  egressCIDRs?: string[] | undefined;
  /** Per-container ceiling written into each namespace's LimitRange. */
  maxContainer?: { cpu: string; memory: string } | undefined;
  /** Size of the writable emptyDir at /tmp. Default "256Mi". */
  tmpSize?: string | undefined;
  /** StorageClass of add-on services' volumes. Default: the cluster's default class. */
  storageClass?: string | undefined;
  /**
   * Name of a kubernetes.io/dockerconfigjson Secret (in the secrets namespace)
   * with credentials for private images: copied into every environment and
   * referenced by its pods. Default: none (public images or node credentials).
   */
  imagePullSecret?: string | undefined;
  /**
   * The App's own ServiceAccount. Set (in a cluster): every environment gets a
   * RoleBinding of the ClusterRole paas-tenant-reader to it, so the App reads
   * pods, events and logs only in the namespaces it manages, never cluster-wide.
   */
  appServiceAccount?: { namespace: string; name: string } | undefined;
  /**
   * Which App deployed an environment (PAAS_K8S_INSTANCE; the App's default is `app-<APP_ID>`):
   * the namespace's paas.dev/instance label. Apps that share a cluster (a staging and a
   * production App, two teams' Apps) each see the other's environments as foreign and never
   * remove them. Unset (the CLI's plans): no label.
   */
  instance?: string | undefined;
  /**
   * Sleeping environments (PAAS_K8S_ACTIVITY_* and PAAS_K8S_WAKE_SERVICE): unset, nothing sleeps,
   * as Kubernetes has no portable source of request activity (sleep-wake.ts).
   */
  sleep?: SleepSettings | undefined;
}

/** Where request activity is read and where a sleeping environment's route sends its requests. */
export interface SleepSettings {
  /** Prometheus text-format metrics of the Gateway implementation (PAAS_K8S_ACTIVITY_METRICS_URL). */
  metricsUrl: string;
  /** Name of the per-backend request counter sample, e.g. traefik_service_requests_total. */
  counter: string;
  /** Label naming the backend, e.g. Traefik's "service". */
  label: string;
  /** That label's value for an environment: `{namespace}` stands for its namespace, `*` for anything. */
  pattern: string;
  /** The App's in-cluster Service, the sleeping routes' backend (PAAS_K8S_WAKE_SERVICE). */
  wakeService: { namespace: string; name: string; port: number };
}

export const FIELD_MANAGER = "paas";

export class KubernetesPlanError extends PaasError {
  constructor(message: string) {
    super("kubernetes_plan_invalid", message);
  }
}

export function fieldManager(settings: KubernetesSettings): string {
  return settings.fieldManager ?? FIELD_MANAGER;
}

const DNS_LABEL = /^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$/;
const QUANTITY = /^\d+(?:\.\d+)?(?:m|Ki|Mi|Gi|Ti|k|M|G|T)?$/;

/** Refuses settings the API server would reject, with the variable to fix. */
export function validateSettings(s: KubernetesSettings): void {
  const bad = (msg: string) => {
    throw new KubernetesPlanError(msg);
  };
  if (s.routing !== "httproute" && s.routing !== "ingress")
    bad(`PAAS_K8S_ROUTING must be "httproute" or "ingress"`);
  if (s.instance !== undefined && !/^[a-z0-9](?:[-a-z0-9.]{0,61}[a-z0-9])?$/i.test(s.instance))
    bad(
      `PAAS_K8S_INSTANCE must be a label value (letters, digits, "-" or ".", at most 63, starting and ending alphanumeric), not "${s.instance.slice(0, 70)}"`,
    );
  if (s.routing === "httproute") {
    if (!s.gateway)
      bad(
        "PAAS_K8S_GATEWAY must name the parent Gateway (namespace/name[/section]) when routing is httproute",
      );
    else if (
      !DNS_LABEL.test(s.gateway.namespace) ||
      !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.gateway.name)
    ) {
      bad("PAAS_K8S_GATEWAY must be namespace/name[/section] with lowercase Kubernetes names");
    }
  }
  if (!DNS_LABEL.test(s.ingressNamespace))
    bad("PAAS_K8S_INGRESS_NAMESPACE must be the namespace of the ingress controller");
  if (
    s.ingressClassName !== undefined &&
    !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.ingressClassName)
  ) {
    bad("PAAS_K8S_INGRESS_CLASS must be a lowercase IngressClass name");
  }
  for (const ns of s.extraIngressNamespaces ?? []) {
    if (!DNS_LABEL.test(ns)) bad(`PAAS_K8S_INGRESS_NAMESPACE: "${ns.slice(0, 60)}" is not a namespace name`);
  }
  const cidrs: [string, string[] | undefined][] = [
    ["PAAS_K8S_EGRESS_CIDRS", s.egressCIDRs],
    ["PAAS_K8S_INGRESS_CIDRS", s.ingressCIDRs],
    ["PAAS_K8S_DNS_CIDRS", s.dnsCIDRs],
  ];
  for (const [variable, list] of cidrs) {
    for (const c of list ?? []) {
      if (!/^[0-9a-fA-F:.]+\/\d{1,3}$/.test(c))
        bad(`${variable}: "${c.slice(0, 60)}" is not a CIDR such as 10.0.0.0/8`);
    }
  }
  if (s.maxContainer && (!QUANTITY.test(s.maxContainer.cpu) || !QUANTITY.test(s.maxContainer.memory))) {
    bad("PAAS_K8S_MAX_CONTAINER must be <cpu>,<memory> such as 4,8Gi");
  }
  if (s.imagePullSecret !== undefined && !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.imagePullSecret)) {
    bad("PAAS_K8S_IMAGE_PULL_SECRET must be the name of a Secret");
  }
  if (
    s.appServiceAccount &&
    (!DNS_LABEL.test(s.appServiceAccount.namespace) || !DNS_LABEL.test(s.appServiceAccount.name))
  ) {
    bad("PAAS_K8S_SERVICE_ACCOUNT must be namespace/name of the App's ServiceAccount");
  }
  if (s.sleep) validateSleep(s.sleep, s.routing, bad);
  if (s.tmpSize !== undefined && !QUANTITY.test(s.tmpSize))
    bad("PAAS_K8S_TMP_SIZE must be a quantity such as 256Mi");
  if (s.storageClass !== undefined && !/^[a-z0-9]([a-z0-9.-]{0,251}[a-z0-9])?$/.test(s.storageClass))
    bad("PAAS_K8S_STORAGE_CLASS must be the name of a StorageClass");
}

function validateSleep(
  s: SleepSettings,
  routing: KubernetesSettings["routing"],
  bad: (m: string) => void,
): void {
  // Ingress has no portable way to add the wake header nor to reach a Service in another namespace.
  if (routing !== "httproute")
    bad("PAAS_K8S_ACTIVITY_METRICS_URL: sleeping environments need PAAS_K8S_ROUTING=httproute (unset it)");
  let url: URL | undefined;
  try {
    url = new URL(s.metricsUrl);
  } catch {
    url = undefined;
  }
  if (!url || (url.protocol !== "http:" && url.protocol !== "https:"))
    bad("PAAS_K8S_ACTIVITY_METRICS_URL must be an http(s) URL of Prometheus text-format metrics");
  if (!/^[a-zA-Z_:][a-zA-Z0-9_:]*$/.test(s.counter))
    bad("PAAS_K8S_ACTIVITY_COUNTER must be a metric name such as traefik_service_requests_total");
  if (!/^[a-zA-Z_][a-zA-Z0-9_]*$/.test(s.label))
    bad('PAAS_K8S_ACTIVITY_LABEL must be <label>=<pattern> such as "service={namespace}-web-http-80@*"');
  if (s.pattern.split("{namespace}").length !== 2)
    bad(
      "PAAS_K8S_ACTIVITY_LABEL: the pattern must contain {namespace} once, e.g. service={namespace}-web-http-80@*",
    );
  const w = s.wakeService;
  if (!DNS_LABEL.test(w.namespace) || !DNS_LABEL.test(w.name) || !(w.port >= 1 && w.port <= 65535))
    bad(
      "PAAS_K8S_WAKE_SERVICE must be <namespace>/<name>:<port> of the App's Service, e.g. paas-system/paas:80",
    );
}
