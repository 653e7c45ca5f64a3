import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  defaultImage,
  environmentFor,
  environmentTag,
  InputError,
  parseSettings,
} from "../../action/src/inputs.ts";

const runner = {
  GITHUB_REPOSITORY: "Octo-Org/Hello.App",
  GITHUB_SHA: "0123456789abcdef0123456789abcdef01234567",
  GITHUB_REF: "refs/heads/main",
  GITHUB_EVENT_NAME: "push",
  GITHUB_RUN_ID: "99",
  GITHUB_WORKSPACE: "/work/repo",
  GITHUB_ACTOR: "octocat",
};

describe("parseSettings", () => {
  it("applies the documented defaults when the inputs are empty (as the runner passes them)", () => {
    const s = parseSettings({
      ...runner,
      INPUT_PATH: "",
      INPUT_REGISTRY: "",
      INPUT_PUSH: "",
      "INPUT_DRY-RUN": "",
    });
    assert.equal(s.registry, "ghcr.io");
    assert.equal(s.push, true);
    assert.equal(s.dryRun, false);
    assert.equal(s.appPath, undefined);
    assert.equal(s.buildTimeoutMs, 30 * 60_000);
    assert.equal(s.auth, undefined);
    assert.equal(s.oidc, false);
    assert.deepEqual([s.owner, s.repo, s.runId], ["Octo-Org", "Hello.App", 99]);
  });

  it("builds the given sha instead of the workflow's (approved fork builds), and validates it", () => {
    const head = "fedcba9876543210fedcba9876543210fedcba98";
    assert.equal(parseSettings({ ...runner, INPUT_SHA: head }).sha, head);
    assert.equal(parseSettings({ ...runner, INPUT_SHA: "" }).sha, runner.GITHUB_SHA);
    assert.throws(
      () => parseSettings({ ...runner, INPUT_SHA: "main" }),
      /input "sha": a 40-character commit sha/,
    );
  });

  it("reads every input", () => {
    const s = parseSettings({
      ...runner,
      INPUT_PATH: "services/api",
      INPUT_REGISTRY: "registry.example.com:5000",
      INPUT_IMAGE: "registry.example.com:5000/team/api",
      INPUT_USERNAME: "bot",
      INPUT_PASSWORD: "s3cret",
      "INPUT_APP-URL": "https://paas.example.com/",
      INPUT_ENVIRONMENT: "pr-12",
      INPUT_PUSH: "false",
      "INPUT_DRY-RUN": "TRUE",
      "INPUT_BASE-IMAGES": "builder=paas-base/go:bookworm\nruntime: paas-base/runtime:bookworm",
      "INPUT_BUILD-TIMEOUT": "90s",
      ACTIONS_ID_TOKEN_REQUEST_URL: "https://token",
      ACTIONS_ID_TOKEN_REQUEST_TOKEN: "t",
    });
    assert.equal(s.appPath, "services/api");
    assert.equal(s.image, "registry.example.com:5000/team/api");
    assert.deepEqual(s.auth, { username: "bot", password: "s3cret" });
    assert.equal(s.appUrl, "https://paas.example.com");
    assert.equal(s.environment, "preview/pr-12");
    assert.equal(s.push, false);
    assert.equal(s.dryRun, true);
    assert.deepEqual(s.baseImages, {
      builder: "paas-base/go:bookworm",
      runtime: "paas-base/runtime:bookworm",
    });
    assert.equal(s.buildTimeoutMs, 90_000);
    assert.equal(s.oidc, true);
  });

  it("lets one base image set both stages", () => {
    assert.deepEqual(
      parseSettings({ ...runner, "INPUT_BASE-IMAGES": "paas-base/python:bookworm" }).baseImages,
      {
        builder: "paas-base/python:bookworm",
        runtime: "paas-base/python:bookworm",
      },
    );
  });

  it("refuses an http: app-url unless it is loopback (127.0.0.0/8, [::1], localhost), naming the input", () => {
    for (const url of [
      "http://paas.example.com",
      "http://10.0.0.5:3000",
      "http://localhost.example.com",
      "http://127.0.0.1.nip.io",
      "http://[::2]:3000",
    ]) {
      assert.throws(
        () => parseSettings({ ...runner, "INPUT_APP-URL": url }),
        (e: unknown) =>
          e instanceof InputError &&
          /input "app-url": must be https: .*http is accepted only for loopback: 127\.0\.0\.0\/8, \[::1\], localhost/.test(
            e.message,
          ),
        url,
      );
    }
    for (const [url, parsed] of [
      ["https://paas.example.com/", "https://paas.example.com"],
      ["http://127.0.0.1:3000", "http://127.0.0.1:3000"],
      ["http://127.8.9.10:3000/", "http://127.8.9.10:3000"],
      ["http://[::1]:3000", "http://[::1]:3000"],
      ["http://localhost:3000", "http://localhost:3000"],
    ])
      assert.equal(parseSettings({ ...runner, "INPUT_APP-URL": url }).appUrl, parsed, url);
  });

  it("refuses bad values, naming each input and what it expects, never echoing the password", () => {
    assert.throws(
      () =>
        parseSettings({
          ...runner,
          INPUT_PATH: "../elsewhere",
          INPUT_REGISTRY: "https://ghcr.io",
          INPUT_PUSH: "yes",
          "INPUT_APP-URL": "not a url",
          INPUT_ENVIRONMENT: "Prod!",
          "INPUT_BASE-IMAGES": "builder=UPPER/case",
          "INPUT_BUILD-TIMEOUT": "forever",
          INPUT_PASSWORD: "hunter2",
          GITHUB_SHA: "abc",
        }),
      (e: unknown) => {
        assert.ok(e instanceof InputError);
        for (const re of [
          /input "path": a folder inside the repository/,
          /input "registry": a registry host such as ghcr\.io/,
          /input "push": true or false/,
          /input "app-url": an http\(s\) URL/,
          /input "environment": "Prod!" is not an environment/,
          /input "base-images": "UPPER\/case" is not an image reference/,
          /input "build-timeout": a duration/,
          /GITHUB_SHA: a 40-character commit sha/,
        ]) {
          assert.match(e.message, re);
        }
        assert.ok(!e.message.includes("hunter2"));
        return true;
      },
    );
  });
});

describe("environmentFor", () => {
  const envs = { production: { branch: "main" }, staging: { branch: "develop" } };
  it("is the input when given", () => {
    assert.equal(
      environmentFor({ environment: "staging", eventName: "push", ref: "refs/heads/main" }, envs),
      "staging",
    );
  });
  it("is the pull request's preview for pull_request events", () => {
    assert.equal(
      environmentFor({ environment: undefined, eventName: "pull_request", ref: "refs/pull/42/merge" }, envs),
      "preview/pr-42",
    );
  });
  it("is the environment whose branch was pushed, or none", () => {
    assert.equal(
      environmentFor({ environment: undefined, eventName: "push", ref: "refs/heads/develop" }, envs),
      "staging",
    );
    assert.equal(
      environmentFor({ environment: undefined, eventName: "push", ref: "refs/heads/feature/x" }, envs),
      undefined,
    );
    assert.equal(
      environmentFor({ environment: undefined, eventName: "push", ref: "refs/tags/v1" }, envs),
      undefined,
    );
  });
});

describe("image names", () => {
  it("default to <registry>/<owner>/<repo>[-<app>] in lowercase", () => {
    assert.equal(defaultImage("ghcr.io", "Octo-Org", "Hello.App", ""), "ghcr.io/octo-org/hello.app");
    assert.equal(defaultImage("ghcr.io", "octo", "mono", "api"), "ghcr.io/octo/mono-api");
  });
  it("tag environments with valid tags", () => {
    assert.equal(environmentTag("preview/pr-12"), "pr-12");
    assert.equal(environmentTag("production"), "production");
  });
});
