// Secrets delivered with a hand-off survive deploys without one on the Docker
// runtime: the web containers are created with the label paas.secrets.delivered
// (names) beside their env (values), and the next deploy reads the delivered
// names' values back from the serving container — only from the target's own
// environment, of the same repository. The engine here is a double holding what
// the real create options say; test/app/day-two-docker.test.ts runs it for real.
import assert from "node:assert/strict";
import { test } from "node:test";
import type Docker from "dockerode";
import { parseConfig, resolveApps } from "../../../src/config/load.ts";
import { planDeploy } from "../../../src/core/plan.ts";
import { namespaceName, parseEnvironment } from "../../../src/names.ts";
import type { DockerContext } from "../../../src/runtime/docker/context.ts";
import { keptSecretValues } from "../../../src/runtime/docker/kept-secrets.ts";
import { containerCreateOptions, L, planDocker } from "../../../src/runtime/docker/plan.ts";
import { resolveSecretValues } from "../../../src/runtime/secret-values.ts";
import type { DeploySpec } from "../../../src/runtime/types.ts";

const CONFIG = `
run: { port: 8080 }
secrets: [DATABASE_URL, SESSION_KEY]
environments:
  production: { branch: main }
  staging: { branch: develop }
`;
const INSTANCE = "kept-test";

function specFor(environment: string, repositoryId = 4242): DeploySpec {
  const [app] = resolveApps(parseConfig(CONFIG));
  return planDeploy(
    {
      target: { owner: "acme", repo: "shop", app: "", environment: parseEnvironment(environment) },
      repositoryId,
      config: app!.config,
      image: `ghcr.io/acme/shop@sha256:${"ab".repeat(32)}`,
      sha: "a".repeat(40),
    },
    { baseDomain: "example.com", urlScheme: "https" },
  );
}

/** An engine double: the containers created with the real create options, listed and inspected. */
function engine() {
  const containers: { id: string; labels: Record<string, string>; env: string[] }[] = [];
  const inspected: string[] = [];
  const docker = {
    listContainers: async (o: { filters: { label: string[] } }) =>
      containers
        .filter((c) => o.filters.label.every((l) => c.labels[l.split("=")[0]!] === l.split("=")[1]))
        .map((c) => ({
          Id: c.id,
          Names: [`/${c.id}`],
          ImageID: "sha256:x",
          State: "running",
          Ports: [],
          Labels: c.labels,
        })),
    getContainer: (id: string) => ({
      inspect: async () => {
        inspected.push(id);
        return { Config: { Env: containers.find((c) => c.id === id)!.env } };
      },
    }),
  };
  const ctx = { docker: docker as unknown as Docker, instance: INSTANCE } as DockerContext;
  /** Creates a deploy's web container as the rollout does. */
  const deploy = (spec: DeploySpec, values: Record<string, string>, delivered: string[], at: string) => {
    const plan = planDocker({
      spec,
      instance: INSTANCE,
      deployId: at,
      deployedAt: at,
      deliveredSecrets: delivered,
    });
    const o = containerCreateOptions(plan.containers[0]!, {
      imageId: "sha256:x",
      imageUser: "",
      secretValues: values,
    });
    containers.push({ id: `c-${containers.length}`, labels: o.Labels!, env: o.Env! });
  };
  return { ctx, deploy, inspected, containers };
}

test("the plan labels the delivered names only, and only when a hand-off delivered some", () => {
  const spec = specFor("production");
  const labels = (delivered?: string[]) =>
    planDocker({ spec, deployId: "d", deployedAt: "t", deliveredSecrets: delivered }).containers[0]!.labels;
  assert.equal(
    labels(["SESSION_KEY", "DATABASE_URL", "NOT_LISTED"])[L.deliveredSecrets],
    "DATABASE_URL,SESSION_KEY",
  );
  assert.equal(L.deliveredSecrets in labels([]), false, "plans without delivered secrets print as before");
  assert.equal(L.deliveredSecrets in labels(), false);
  for (const v of Object.values(labels(["DATABASE_URL"]))) assert.doesNotMatch(v, /postgres/);
});

test("a deploy without a hand-off keeps the newest version's delivered values; the operator's fill the rest", async () => {
  const e = engine();
  const prod = specFor("production");
  const ns = namespaceName(prod.target);
  e.deploy(
    prod,
    { DATABASE_URL: "postgres://old", SESSION_KEY: "op" },
    ["DATABASE_URL"],
    "2026-01-01T00:00:00Z",
  );
  e.deploy(
    prod,
    { DATABASE_URL: "postgres://github", SESSION_KEY: "op" },
    ["DATABASE_URL"],
    "2026-01-02T00:00:00Z",
  );
  const kept = await keptSecretValues(e.ctx, ns, { repositoryId: 4242, wanted: prod.secrets });
  assert.deepEqual(kept, { DATABASE_URL: "postgres://github" }, "the serving (newest) version's value");

  const operatorValues = { SESSION_KEY: "op-rotated", DATABASE_URL: "op-db" };
  const got = await resolveSecretValues(prod.target, prod.secrets, {
    delivered: undefined,
    kept,
    source: {
      get: async (_t, names) => Object.fromEntries(names.map((n) => [n, operatorValues[n as "SESSION_KEY"]])),
    },
    setting: "PAAS_SECRETS_DIR",
  });
  assert.deepEqual(got, {
    values: { DATABASE_URL: "postgres://github", SESSION_KEY: "op-rotated" },
    delivered: ["DATABASE_URL"],
  });
});

test("nothing is read when the hand-off delivers every name, or nothing was delivered before", async () => {
  const e = engine();
  const prod = specFor("production");
  const ns = namespaceName(prod.target);
  assert.deepEqual(await keptSecretValues(e.ctx, ns, { repositoryId: 4242, wanted: prod.secrets }), {});
  e.deploy(prod, { DATABASE_URL: "op-db", SESSION_KEY: "op" }, [], "2026-01-01T00:00:00Z");
  assert.deepEqual(await keptSecretValues(e.ctx, ns, { repositoryId: 4242, wanted: prod.secrets }), {});
  e.deploy(
    prod,
    { DATABASE_URL: "postgres://github", SESSION_KEY: "op" },
    ["DATABASE_URL"],
    "2026-01-02T00:00:00Z",
  );
  assert.deepEqual(await keptSecretValues(e.ctx, ns, { repositoryId: 4242, wanted: [] }), {});
  assert.deepEqual(await keptSecretValues(e.ctx, ns, { repositoryId: 4242, wanted: ["SESSION_KEY"] }), {});
  assert.deepEqual(e.inspected, [], "no container's env was read");
});

test("never across environments or repositories", async () => {
  const e = engine();
  const staging = specFor("staging");
  const prod = specFor("production");
  e.deploy(
    staging,
    { DATABASE_URL: "postgres://staging", SESSION_KEY: "s" },
    ["DATABASE_URL", "SESSION_KEY"],
    "2026-01-01T00:00:00Z",
  );
  assert.deepEqual(
    await keptSecretValues(e.ctx, namespaceName(prod.target), { repositoryId: 4242, wanted: prod.secrets }),
    {},
    "production reads only its own containers",
  );
  assert.deepEqual(
    await keptSecretValues(e.ctx, namespaceName(staging.target), {
      repositoryId: 7,
      wanted: staging.secrets,
    }),
    {},
    "another repository's containers under the same name hold nothing of this one's",
  );
  assert.deepEqual(
    await keptSecretValues(e.ctx, namespaceName(staging.target), {
      repositoryId: 4242,
      wanted: staging.secrets,
    }),
    { DATABASE_URL: "postgres://staging", SESSION_KEY: "s" },
  );
});
