// Who reaches the app's pods and whom they reach: the NetworkPolicies, the
// Service and the route (HTTPRoute or Ingress). Its own module because it is
// the part of the plan the cluster's ingress settings shape.
import type { DeploySpec } from "../types.ts";
import { WORKLOAD, type KubeObject, type Meta } from "./objects.ts";
import { HTTP_PORT_NAME } from "./pods.ts";
import type { KubernetesSettings } from "./settings.ts";

const SERVICE_PORT = 80;
/** NodeLocal DNSCache's default listen address. */
const NODE_LOCAL_DNS = "169.254.20.10/32";

export function networkPolicies(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  selector: Record<string, string>,
): KubeObject[] {
  const np = (name: string, body: Record<string, unknown>): KubeObject => ({
    apiVersion: "networking.k8s.io/v1",
    kind: "NetworkPolicy",
    metadata: meta(name),
    spec: body,
  });
  const out = [
    np("default-deny", { podSelector: {}, policyTypes: ["Ingress", "Egress"] }),
    np("allow-ingress-controller", {
      podSelector: { matchLabels: selector },
      policyTypes: ["Ingress"],
      ingress: [
        {
          from: [
            {
              namespaceSelector: {
                matchExpressions: [
                  {
                    key: "kubernetes.io/metadata.name",
                    operator: "In",
                    values: [
                      ...new Set([settings.ingressNamespace, ...(settings.extraIngressNamespaces ?? [])]),
                    ],
                  },
                ],
              },
            },
            ...(settings.ingressCIDRs ?? []).map((cidr) => ({ ipBlock: { cidr } })),
          ],
          ports: [{ protocol: "TCP", port: spec.port }],
        },
      ],
    }),
    np("allow-dns", {
      podSelector: {},
      policyTypes: ["Egress"],
      egress: [
        {
          // Cluster DNS in any namespace (CoreDNS in kube-system, OpenShift's in openshift-dns on
          // 5353) and a node-local cache, which runs on the host network at a link-local address.
          to: [
            { namespaceSelector: {}, podSelector: {} },
            ...(settings.dnsCIDRs ?? [NODE_LOCAL_DNS]).map((cidr) => ({ ipBlock: { cidr } })),
          ],
          ports: [53, 5353].flatMap((port) => [
            { protocol: "UDP", port },
            { protocol: "TCP", port },
          ]),
        },
      ],
    }),
  ];
  if (settings.egressCIDRs && settings.egressCIDRs.length > 0) {
    out.push(
      np("allow-egress", {
        // Every pod of the app: workers and jobs reach the same databases and APIs as the web process.
        podSelector: {},
        policyTypes: ["Egress"],
        egress: [{ to: settings.egressCIDRs.map((cidr) => ({ ipBlock: { cidr } })) }],
      }),
    );
  }
  return out;
}

export function route(spec: DeploySpec, settings: KubernetesSettings, meta: Meta): KubeObject {
  if (settings.routing === "httproute") {
    const gw = settings.gateway!;
    // Core HTTPRoute only (no filters): every Gateway implementation serves it.
    return {
      apiVersion: "gateway.networking.k8s.io/v1",
      kind: "HTTPRoute",
      metadata: meta(WORKLOAD),
      spec: {
        parentRefs: [
          {
            group: "gateway.networking.k8s.io",
            kind: "Gateway",
            name: gw.name,
            namespace: gw.namespace,
            ...(gw.sectionName ? { sectionName: gw.sectionName } : {}),
          },
        ],
        hostnames: [...spec.hostnames],
        rules: [
          {
            matches: [{ path: { type: "PathPrefix", value: "/" } }],
            backendRefs: [{ group: "", kind: "Service", name: WORKLOAD, port: SERVICE_PORT, weight: 1 }],
          },
        ],
      },
    };
  }
  return {
    apiVersion: "networking.k8s.io/v1",
    kind: "Ingress",
    metadata: meta(WORKLOAD),
    spec: {
      ...(settings.ingressClassName ? { ingressClassName: settings.ingressClassName } : {}),
      rules: spec.hostnames.map((host) => ({
        host,
        http: {
          paths: [
            {
              path: "/",
              pathType: "Prefix",
              backend: { service: { name: WORKLOAD, port: { number: SERVICE_PORT } } },
            },
          ],
        },
      })),
    },
  };
}

/** The ClusterIP Service in front of the web pods, the route's only backend. */
export function webService(meta: Meta, selector: Record<string, string>): KubeObject {
  return {
    apiVersion: "v1",
    kind: "Service",
    metadata: meta(WORKLOAD),
    spec: {
      type: "ClusterIP",
      selector,
      ports: [{ name: HTTP_PORT_NAME, port: SERVICE_PORT, targetPort: HTTP_PORT_NAME, protocol: "TCP" }],
    },
  };
}
