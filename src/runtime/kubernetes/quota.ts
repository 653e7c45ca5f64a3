// The environment's share of the cluster: a ResourceQuota sized for a whole
// rolling update plus workers, jobs and add-on services, and the LimitRange
// defaults. Its own module because the sizing is exact arithmetic on quantities.
import { cpuMillis } from "../../core/plan.ts";
import type { DeploySpec } from "../types.ts";
import { extraQuota } from "./jobs.ts";
import type { KubeObject, Meta } from "./objects.ts";
import { serviceQuota } from "./services.ts";
import { KubernetesPlanError, type KubernetesSettings } from "./settings.ts";

const UNIT: Record<string, bigint> = {
  "": 1n,
  k: 10n ** 3n,
  M: 10n ** 6n,
  G: 10n ** 9n,
  T: 10n ** 12n,
  Ki: 2n ** 10n,
  Mi: 2n ** 20n,
  Gi: 2n ** 30n,
  Ti: 2n ** 40n,
};

/** Memory quantity in bytes, exact (a quota of many large pods exceeds 2^53). */
function bytes(q: string): bigint {
  const m = /^(\d+)(Ki|Mi|Gi|Ti|k|M|G|T)?$/.exec(q);
  if (!m) throw new KubernetesPlanError(`memory amount "${q.slice(0, 40)}" is not a quantity such as 512Mi`);
  return BigInt(m[1]!) * UNIT[m[2] ?? ""]!;
}

/** Pods of the web Deployment at most: the autoscaler's ceiling or the fixed count. */
export interface WebScale {
  most: number;
  surge: number;
}

/** The namespace's ResourceQuota and LimitRange. */
export function quotaObjects(
  spec: DeploySpec,
  settings: KubernetesSettings,
  meta: Meta,
  scale: WebScale,
): KubeObject[] {
  const perPod = spec.resources;
  // Terminating pods (preStop drain) still count against the quota: leave room for a
  // whole rolling update, so a quick redeploy is never refused for lack of quota.
  const web = 2 * scale.most + scale.surge;
  // Workers, the release step and scheduled runs have their own share (jobs.ts).
  const extra = extraQuota(spec);
  const pods = web + extra.pods;
  // Add-on services: one pod and one claim each, on top of the app's.
  const sq = serviceQuota(spec);
  const quota: KubeObject = {
    apiVersion: "v1",
    kind: "ResourceQuota",
    metadata: meta("paas-quota"),
    spec: {
      hard: {
        pods: String(pods + sq.pods),
        "requests.cpu": `${cpuMillis(perPod.requests.cpu) * web + extra.requestsCpuMillis + sq.cpuRequestMillis}m`,
        "limits.cpu": `${cpuMillis(perPod.limits.cpu) * web + extra.limitsCpuMillis + sq.cpuLimitMillis}m`,
        "requests.memory": String(
          bytes(perPod.requests.memory) * BigInt(web) + extra.requestsMemory + sq.memoryRequestBytes,
        ),
        "limits.memory": String(
          bytes(perPod.limits.memory) * BigInt(web) + extra.limitsMemory + sq.memoryLimitBytes,
        ),
        // Tenants get no NodePorts, LoadBalancers or volumes of their own (only their services').
        "services.nodeports": "0",
        "services.loadbalancers": "0",
        persistentvolumeclaims: String(sq.claims),
        ...(sq.claims > 0 ? { "requests.storage": `${sq.storageMi}Mi` } : {}),
      },
    },
  };
  const limits: KubeObject = {
    apiVersion: "v1",
    kind: "LimitRange",
    metadata: meta("paas-limits"),
    spec: {
      limits: [
        {
          type: "Container",
          default: { cpu: perPod.limits.cpu, memory: perPod.limits.memory },
          defaultRequest: { cpu: perPod.requests.cpu, memory: perPod.requests.memory },
          ...(settings.maxContainer ? { max: { ...settings.maxContainer } } : {}),
        },
      ],
    },
  };
  return [quota, limits];
}
