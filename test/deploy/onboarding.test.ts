// The onboarding pull request end to end: the App (its real server and
// webhook handling) against the validating fake GitHub, whose installation
// tokens carry exactly app.yml's permissions and which checks the installation
// payloads against GitHub's schema. Each example under examples/ is a
// repository without .paas.yml; the pull request's files must pass
// `paas validate`, detect as the comments say, and the workflow must be YAML
// running this repository's Action with inputs it declares.
import assert from "node:assert/strict";
import { readFile, rm } from "node:fs/promises";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { parse as parseYaml } from "yaml";
import { resolveApps, parseConfig } from "../../src/config/load.ts";
import { detect, diskSource } from "../../src/detect/index.ts";
import { ONBOARDING_BRANCH } from "../../src/deploy/onboarding-files.ts";
import { startHarness, type Harness } from "../support/app-harness.ts";
import { checkoutFiles, exampleFiles, onboardingRepos } from "../support/onboarding.ts";
import { ROOT, runPaas } from "../support/paas-cli.ts";

const EXAMPLES = ["python", "fastapi", "django-poetry", "go", "go-chi", "rust", "rust-axum"];
const ACTION = "paas-dev/paas/action@v1";

describe("onboarding pull request", () => {
  let h: Harness;
  const work: string[] = [];

  before(async () => {
    h = await startHarness({ PAAS_RECONCILE_INTERVAL: "0s" });
  });
  after(async () => {
    await h?.close();
    for (const d of work) await rm(d, { recursive: true, force: true });
  });

  const repos = onboardingRepos(() => h, 700_000);
  const repository = repos.add;
  const install = repos.install;
  const pullsOf = repos.pullsOf;
  const branchFiles = (full: string) => repos.branch(full).files;
  /** Writes the branch's files to a folder and runs the CLI there, as a user who checked it out would. */
  const checkout = async (files: Map<string, string>) => {
    const dir = await checkoutFiles(files);
    work.push(dir);
    return dir;
  };
  const actionInputs = async () =>
    Object.keys(
      (parseYaml(await readFile(join(ROOT, "action/action.yml"), "utf8")) as { inputs: object }).inputs,
    );

  it("opens one pull request per example whose .paas.yml validates and whose workflow runs the Action", async () => {
    const repos = [];
    for (const ex of EXAMPLES) repos.push(repository(`onboard-${ex}`, await exampleFiles(ex)));
    await install(repos, "installation_repositories");
    const inputs = await actionInputs();
    for (const [i, r] of repos.entries()) {
      const pulls = pullsOf(r.full);
      assert.equal(pulls.length, 1, `${r.full}: one pull request`);
      const [pull] = pulls;
      assert.equal(pull!.headRef, ONBOARDING_BRANCH);
      assert.equal(pull!.baseRef, "main");
      assert.match(pull!.title!, /paas/);
      const files = branchFiles(r.full);
      const config = files.get(".paas.yml")!;
      const workflow = files.get(".github/workflows/paas.yml")!;
      assert.ok(config && workflow, `${r.full}: both files added`);

      const dir = await checkout(files);
      const validated = await runPaas({}, "validate", dir);
      assert.equal(validated.code, 0, validated.stderr);
      assert.match(validated.stdout, /valid/);
      // The comments say what `paas detect` finds in the checked-out branch.
      const [app] = resolveApps(parseConfig(config));
      const plan = await detect(diskSource(dir), app!.config);
      assert.match(config, new RegExp(`^#   language: ${plan.language}`, "m"), `${EXAMPLES[i]}: ${config}`);
      for (const reason of plan.reasons)
        assert.ok(config.includes(`#     - ${reason}`), `${reason} in\n${config}`);
      assert.match(pull!.body!, new RegExp(`detected a \\*\\*${plan.language}\\*\\* app`));

      const wf = parseYaml(workflow) as {
        on: Record<string, unknown>;
        permissions: Record<string, string>;
        jobs: Record<
          string,
          { environment: string; steps: { uses?: string; with?: Record<string, string> }[] }
        >;
      };
      assert.deepEqual(Object.keys(wf.on).sort(), ["pull_request", "push", "workflow_dispatch"]);
      assert.deepEqual(wf.permissions, { contents: "read", packages: "write", "id-token": "write" });
      const job = wf.jobs.deploy!;
      assert.match(job.environment, /'production'/);
      const step = job.steps.find((s) => s.uses === ACTION);
      assert.ok(step, "the workflow uses the paas Action");
      for (const k of Object.keys(step.with ?? {}))
        assert.ok(inputs.includes(k), `the Action has an input ${k}`);
      assert.equal(step.with!["app-url"], h.settings.publicUrl);
    }
    assert.deepEqual(h.github.violations, []);
  });

  it("never opens a second one: a repeated event, a restarted App, a closed pull request", async () => {
    const r = repository("onboard-twice", await exampleFiles("go"));
    await install([r], "installation");
    await install([r], "installation_repositories");
    await h.restartApp();
    await install([r], "installation");
    assert.equal(pullsOf(r.full).length, 1);
    pullsOf(r.full)[0]!.state = "closed";
    await install([r], "installation_repositories");
    assert.equal(pullsOf(r.full).length, 1, "closed: the owner opted out");
    assert.deepEqual(h.github.violations, []);
  });

  it("opens nothing for a configured repository, and never writes over an existing workflow", async () => {
    const configured = repository("onboard-configured", {
      ...(await exampleFiles("go")),
      ".paas.yml": "name: x\n",
    });
    const ownWorkflow = "name: mine\non: push\njobs: {}\n";
    const withWorkflow = repository("onboard-own-wf", {
      ...(await exampleFiles("python")),
      ".github/workflows/paas.yml": ownWorkflow,
    });
    await install([configured, withWorkflow], "installation");
    assert.equal(pullsOf(configured.full).length, 0);
    assert.equal(h.github.branches.has(`${configured.full.toLowerCase()}:${ONBOARDING_BRANCH}`), false);
    const files = branchFiles(withWorkflow.full);
    assert.equal(
      files.get(".github/workflows/paas.yml"),
      ownWorkflow,
      "the repository's workflow is unchanged",
    );
    assert.ok(files.get(".paas.yml"));
    assert.match(pullsOf(withWorkflow.full)[0]!.body!, /already exists and is left as it is/);
    assert.deepEqual(h.github.violations, []);
  });

  it("explains what to add when nothing can be detected, and follows a default branch other than main", async () => {
    const bare = repository("onboard-bare", { "README.md": "# notes\n" });
    const master = repository("onboard-master", await exampleFiles("go"), "master");
    const script = repository("onboard-script", {
      "main.py": 'def serve():\n    pass\n\n\nif __name__ == "__main__":\n    serve()\n',
    });
    const noStart = repository("onboard-nostart", { "main.py": "print('hi')\n" });
    await install([bare, master, script, noStart], "installation_repositories");

    const [pull] = pullsOf(bare.full);
    assert.match(pull!.body!, /could not detect how to build/);
    assert.match(pull!.body!, /Set `language` in `.paas.yml`/);
    const bareConfig = branchFiles(bare.full).get(".paas.yml")!;
    assert.match(bareConfig, /Nothing to build/);
    const dir = await checkout(branchFiles(bare.full));
    assert.equal((await runPaas({}, "validate", dir)).code, 0);

    assert.equal(pullsOf(master.full)[0]!.baseRef, "master");
    const masterConfig = parseConfig(branchFiles(master.full).get(".paas.yml"));
    assert.deepEqual(resolveApps(masterConfig)[0]!.config.environments, { production: { branch: "master" } });
    const wf = parseYaml(branchFiles(master.full).get(".github/workflows/paas.yml")!) as {
      on: { push: { branches: string[] } };
    };
    assert.deepEqual(wf.on.push.branches, ["master"]);

    // A Python script with no manifest: detection needs `language: python`, and the file says so.
    const scriptConfig = parseConfig(branchFiles(script.full).get(".paas.yml"));
    assert.equal(resolveApps(scriptConfig)[0]!.config.language, "python");
    assert.match(branchFiles(script.full).get(".paas.yml")!, /# {3}start: +python main\.py/);
    // …and when even then no start command is found, the file names the key to set.
    const noStartConfig = branchFiles(noStart.full).get(".paas.yml")!;
    assert.equal(resolveApps(parseConfig(noStartConfig))[0]!.config.language, "python");
    assert.match(noStartConfig, /^# run\.command: <set me>$/m);
    assert.deepEqual(h.github.violations, []);
  });
});
