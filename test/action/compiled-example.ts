// Shared end-to-end checks for the compiled examples (Go, Rust): the bundled
// Action builds, pushes and hands off; the image answers with its commit; a
// one-line change reuses the dependency layers; a compile error is annotated
// at its file:line.
import assert from "node:assert/strict";
import { readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";
import { after, before, describe, it } from "node:test";
import Docker from "dockerode";
import { startTokenServer, type TokenServer } from "../support/oidc-token-server.ts";
import { startRegistry, type TestRegistry } from "../support/registry.ts";
import {
  annotations,
  answerOf,
  randomSha,
  runAction,
  startStandInApp,
  tagsOf,
  untag,
  workspaceFrom,
  type StandInApp,
} from "./harness.ts";

export interface CompiledExample {
  language: "go" | "rust";
  /** Source file (relative to the example) edited by the tests. */
  source: string;
  /** The dependency step whose layer a source-only change must reuse. */
  dependencyStep: RegExp;
  /** Replaces one line so the app still compiles (answers `ok!` on /healthz). */
  oneLineChange(text: string): string;
  /** Breaks the source; returns the new text and the 1-based line of the error. */
  breakIt(text: string): { text: string; line: number };
  errorTitle: RegExp;
}

export function compiledExampleSuite(ex: CompiledExample): void {
  const docker = new Docker();
  const base = `builder=paas-base/${ex.language}:bookworm\nruntime=paas-base/runtime:bookworm`;

  describe(`action on the ${ex.language} example`, { timeout: 900_000 }, () => {
    let registry: TestRegistry;
    let tokens: TokenServer;
    let app: StandInApp;
    let image: string;
    const workspaces: string[] = [];
    const ws = async () => {
      const w = await workspaceFrom(ex.language);
      workspaces.push(w);
      return w;
    };
    const inputs = () => ({
      registry: registry.host,
      username: registry.username,
      password: registry.password,
      "app-url": app.url,
      "base-images": base,
    });

    before(async () => {
      registry = await startRegistry();
      tokens = await startTokenServer({ repository: `octo-org/hello-${ex.language}` });
      app = await startStandInApp(tokens);
      image = `${registry.host}/octo-org/hello-${ex.language}`;
    });
    after(async () => {
      await untag(docker, await tagsOf(docker, image));
      await app.close();
      await tokens.close();
      await registry.stop();
      for (const w of workspaces) await rm(w, { recursive: true, force: true });
    });

    let firstLayers: string[] = [];

    it("builds, pushes, hands off, and the image answers with its commit", async () => {
      const sha = randomSha();
      const run = await runAction({
        workspace: await ws(),
        inputs: inputs(),
        sha,
        tokenServer: tokens,
        repository: `octo-org/hello-${ex.language}`,
      });
      assert.equal(run.code, 0, run.stdout);
      assert.equal(run.outputs.language, ex.language);
      assert.equal(run.outputs["start-command"], "./hello");
      assert.equal(
        await registry.digestOf(`octo-org/hello-${ex.language}`, `sha-${sha.slice(0, 7)}`),
        run.outputs.digest,
      );
      assert.equal(app.received.at(-1)?.body.digest, run.outputs.digest);
      const ref = run.outputs["image-ref"]!;
      assert.deepEqual(await answerOf(docker, ref), { status: 200, body: sha });
      assert.deepEqual(await answerOf(docker, ref, "/healthz"), { status: 200, body: "ok" });
      const info = await docker.getImage(ref).inspect();
      assert.equal(info.Config.User, "65532:65532");
      assert.deepEqual(Object.keys(info.Config.ExposedPorts ?? {}), ["8080/tcp"]);
      firstLayers = info.RootFS.Layers ?? [];
    });

    it("reuses the dependency layers after a one-line source change", async () => {
      assert.ok(firstLayers.length > 0, "needs the first build");
      const workspace = await ws();
      const file = path.join(workspace, ex.source);
      await writeFile(file, ex.oneLineChange(await readFile(file, "utf8")));
      const sha = randomSha();
      const run = await runAction({
        workspace,
        inputs: inputs(),
        sha,
        tokenServer: tokens,
        repository: `octo-org/hello-${ex.language}`,
      });
      assert.equal(run.code, 0, run.stdout);
      assert.match(run.stdout, ex.dependencyStep);
      const ref = run.outputs["image-ref"]!;
      assert.deepEqual(await answerOf(docker, ref), { status: 200, body: sha });
      assert.deepEqual(await answerOf(docker, ref, "/healthz"), { status: 200, body: "ok!" });
      // Same runtime base, new binary layer.
      const layers = (await docker.getImage(ref).inspect()).RootFS.Layers ?? [];
      const baseLayers = (await docker.getImage("paas-base/runtime:bookworm").inspect()).RootFS.Layers ?? [];
      assert.deepEqual(layers.slice(0, baseLayers.length), firstLayers.slice(0, baseLayers.length));
      assert.notDeepEqual(layers, firstLayers);
    });

    it("annotates a compile error at its file and line", async () => {
      const workspace = await ws();
      const file = path.join(workspace, ex.source);
      const broken = ex.breakIt(await readFile(file, "utf8"));
      await writeFile(file, broken.text);
      const run = await runAction({
        workspace,
        inputs: inputs(),
        sha: randomSha(),
        tokenServer: tokens,
        repository: `octo-org/hello-${ex.language}`,
      });
      assert.equal(run.code, 1);
      const errors = annotations(run.stdout).filter((a) => a.level === "error" && a.props.file);
      assert.equal(errors.length, 1, run.stdout);
      assert.equal(errors[0]!.props.file, ex.source);
      assert.equal(errors[0]!.props.line, String(broken.line));
      assert.match(errors[0]!.props.title ?? "", ex.errorTitle);
      assert.match(run.summary, /Build failed/);
    });
  });
}
