// The App's own image (root Dockerfile, run by k8s/): it builds with the
// project's lock file, runs as the non-root user k8s/deployment.yaml expects,
// and `paas start` inside it validates settings like the App on a host.
// No public registry is reachable here, so NODE_IMAGE is a local image made
// from the debootstrap base plus this Node binary and npm.
import assert from "node:assert/strict";
import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { after, before, test } from "node:test";
import { buildAppImage, buildNodeImage, docker, ROOT as root } from "../support/app-image.ts";

const APP_IMAGE = `paas-test/app:${process.pid}`;

before(async () => {
  await buildNodeImage();
});

after(async () => {
  await docker("rmi", "-f", APP_IMAGE).catch(() => undefined);
});

test("the App image builds from the repository and runs `paas` as user 10001", async () => {
  await buildAppImage(APP_IMAGE);
  const user = (await docker("image", "inspect", APP_IMAGE, "--format", "{{.Config.User}}")).stdout.trim();
  assert.equal(user, "10001:10001");
  const version = await docker("run", "--rm", "--read-only", APP_IMAGE, "--version");
  assert.equal(
    version.stdout.trim(),
    (JSON.parse(await readFile(join(root, "package.json"), "utf8")) as { version: string }).version,
  );
  // Dev dependencies stay out of the image.
  const ls = await docker("run", "--rm", "--entrypoint", "ls", APP_IMAGE, "node_modules");
  assert.match(ls.stdout, /^probot$/m);
  assert.doesNotMatch(ls.stdout, /^(typescript|eslint|fast-check)$/m);
  // `paas start` in a cluster: settings are validated before anything starts.
  const start = await docker(
    "run",
    "--rm",
    "--read-only",
    "-e",
    "PAAS_RUNTIME=kubernetes",
    APP_IMAGE,
    "start",
  ).catch((e: { stdout: string; stderr: string; code: number }) => e);
  assert.equal((start as { code?: number }).code, 1);
  assert.match(start.stderr, /APP_ID/);
  assert.match(start.stderr, /PAAS_PUBLIC_URL/);
});
