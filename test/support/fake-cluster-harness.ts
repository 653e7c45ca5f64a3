// The App in process (app-harness.ts) deploying through the real Kubernetes
// runtime to the fake API server: the cluster's objects are the fake's, and a
// rollout that succeeds is also applied to the harness's serving double, which
// answers the public route the App probes.
import { KubernetesRuntime } from "../../src/runtime/kubernetes/runtime.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import { FakeKubernetesApi } from "../fakes/kubernetes-api.ts";
import { HTTPROUTE_SETTINGS } from "../runtime/kubernetes/specs.ts";
import { startHarness, type Harness } from "./app-harness.ts";

export interface FakeClusterHarness {
  h: Harness;
  fake: FakeKubernetesApi;
  k8s: KubernetesRuntime;
  close(): Promise<void>;
}

export async function startFakeClusterHarness(env: Record<string, string> = {}): Promise<FakeClusterHarness> {
  const fake = await FakeKubernetesApi.start();
  const k8s = new KubernetesRuntime({
    kubeConfig: fake.kubeConfig(),
    settings: HTTPROUTE_SETTINGS,
    pollIntervalMs: 10,
    retry: { minDelayMs: 5, maxDelayMs: 50 },
  });
  // The serving double is the harness's, made after the runtime it is given.
  const served: { h?: Harness } = {};
  const runtime: Runtime = {
    kind: "kubernetes",
    apply: async (spec, options) => {
      const result = await k8s.apply(spec, options);
      if (result.ok) await served.h!.runtime.apply(spec);
      return result;
    },
    destroy: (t) => k8s.destroy(t),
    diagnose: (t) => k8s.diagnose(t),
    list: () => k8s.list(),
    logs: (t, o) => k8s.logs(t, o),
  };
  const harness = await startHarness(env, { runtime });
  served.h = harness;
  return {
    h: harness,
    fake,
    k8s,
    async close() {
      await harness.close();
      await k8s.close();
      await fake.close();
    },
  };
}
