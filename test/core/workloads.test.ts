// The release step, workers, scheduled jobs and egress keys: what `.paas.yml`
// accepts (and the errors that tell the fix), and what the pure planner makes
// of them, operator ceilings included.
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { parseConfig, resolveApps } from "../../src/config/load.ts";
import { planDeploy, PlanError, type PlatformSettings } from "../../src/core/plan.ts";
import { ConfigError } from "../../src/errors.ts";
import { readPlatformSettings } from "../../src/settings/platform.ts";

const SHA = "a".repeat(40);
const IMAGE = `ghcr.io/octo/shop@sha256:${"b".repeat(64)}`;
const settings: PlatformSettings = { baseDomain: "example.com", urlScheme: "https" };

function plan(yaml: string, s: PlatformSettings = settings) {
  const [app] = resolveApps(parseConfig(yaml));
  return planDeploy(
    {
      target: { owner: "octo", repo: "shop", app: "", environment: { kind: "named", name: "production" } },
      repositoryId: 1,
      config: app!.config,
      image: IMAGE,
      sha: SHA,
    },
    s,
  );
}

function configError(yaml: string): string {
  try {
    parseConfig(yaml);
  } catch (e) {
    assert.ok(e instanceof ConfigError, String(e));
    return e.message;
  }
  assert.fail("accepted");
}

describe("workload keys in .paas.yml", () => {
  it("plans the release command, workers (sorted, resources over the app's) and named jobs", () => {
    const spec = plan(`
run: { release: python manage.py migrate }
resources: { requests: { cpu: 200m, memory: 256Mi }, limits: { cpu: "1", memory: 512Mi } }
processes:
  worker: python worker.py
  mailer: { command: python mailer.py, scale: { replicas: 3 }, resources: { limits: { memory: 1Gi } } }
  idle: { command: python idle.py, scale: { replicas: 0 } }
cron:
  - { schedule: " */15 * * * * ", command: python tick.py }
  - { name: nightly, schedule: "@daily", command: python report.py }
`);
    assert.equal(spec.release, "python manage.py migrate");
    assert.deepEqual(
      spec.processes?.map((p) => [p.name, p.replicas, p.resources.limits.memory, p.resources.requests.cpu]),
      [
        ["idle", 0, "512Mi", "200m"],
        ["mailer", 3, "1Gi", "200m"],
        ["worker", 1, "512Mi", "200m"],
      ],
    );
    assert.deepEqual(spec.cron, [
      { name: "job-1", schedule: "*/15 * * * *", command: "python tick.py" },
      { name: "nightly", schedule: "@daily", command: "python report.py" },
    ]);
    assert.equal(spec.egress, "none");
  });

  it("an app without them plans none", () => {
    const spec = plan("");
    assert.equal(spec.release, undefined);
    assert.deepEqual(spec.processes, []);
    assert.deepEqual(spec.cron, []);
  });

  it("refuses bad schedules, names and commands with the fix", () => {
    assert.match(
      configError(`cron: [{ schedule: "*/15 * * *", command: x }]`),
      /five-field cron schedule such as "\*\/15 \* \* \* \*"/,
    );
    assert.match(configError(`cron: [{ schedule: "61 * * * *", command: x }]`), /not a valid cron schedule/);
    assert.match(configError(`cron: [{ schedule: "0 0 * * * *", command: x }]`), /five-field/);
    assert.match(
      configError(
        `cron: [{ name: a, schedule: "@hourly", command: x }, { name: a, schedule: "@daily", command: y }]`,
      ),
      /cron job name "a" is used twice/,
    );
    assert.match(configError(`processes: { web: python w.py }`), /"web" is the routed process/);
    assert.match(configError(`processes: { Worker: python w.py }`), /lowercase name/);
    assert.match(configError(`processes: { worker: "  " }`), /a command/);
    assert.match(configError(`run: { release: "" }`), /run\.release/);
    assert.match(configError(`network: { egress: everywhere }`), /network\.egress/);
    assert.match(
      configError(`processes: { w: { command: x, scale: { replicas: 2, autoscale: {} } } }`),
      /autoscale/,
    );
  });

  it("operator ceilings apply to each worker; internet egress needs the operator's leave", () => {
    const limits = { ...settings, limits: { maxReplicas: 2, maxMemoryBytes: 512 * 1024 ** 2 } };
    assert.throws(
      () => plan(`processes: { mailer: { command: x, scale: { replicas: 3 } } }`, limits),
      (e: unknown) => e instanceof PlanError && /processes\.mailer: .*at most 2/.test(e.message),
    );
    assert.throws(
      () => plan(`processes: { big: { command: x, resources: { limits: { memory: 1Gi } } } }`, limits),
      (e: unknown) =>
        e instanceof PlanError && /processes\.big: resources\.limits\.memory 1Gi/.test(e.message),
    );
    assert.equal(plan(`network: { egress: internet }`).egress, "internet");
    const closed = readPlatformSettings({ PAAS_EGRESS_INTERNET: "false" });
    assert.ok("settings" in closed);
    assert.throws(
      () => plan(`network: { egress: internet }`, { ...settings, ...closed.settings }),
      (e: unknown) => e instanceof PlanError && /PAAS_EGRESS_INTERNET=false/.test(e.message),
    );
    const open = readPlatformSettings({});
    assert.ok("settings" in open && open.settings.egressInternet === true);
    assert.deepEqual(readPlatformSettings({ PAAS_EGRESS_INTERNET: "maybe" }), {
      problems: ["PAAS_EGRESS_INTERNET must be true or false"],
    });
  });
});
