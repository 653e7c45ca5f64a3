// Hostile external strings through the App, where they reach Markdown/HTML
// (check runs, the comment, replies), JSON answers, names, the runtime's
// environment and the Kubernetes YAML: escaped, fenced, carried as data, or
// rejected with a position. PR titles and commit messages are never rendered.
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { parseAllDocuments } from "yaml";
import { planKubernetes } from "../../src/runtime/kubernetes/manifests.ts";
import { renderManifests } from "../../src/runtime/kubernetes/render.ts";
import { FULL, handoffBody, sha, startHarness, VALID_CONFIG, type Harness } from "../support/app-harness.ts";
import {
  DISPATCH_WORKFLOW,
  forkPullRequestPayload,
  FORK_REPO_ID,
  prCommentPayload,
} from "../support/fork-payloads.ts";

const XSS = '<img src=x onerror="alert(1)">';
const LINK = "[click](javascript:alert(1))";
const FENCE_BREAK = "```\n</details>" + XSS;
const VALUE = `a\nb: c\n- d\n"quoted" 'single' $(id) \`uname\` ; rm -rf / #{x} %s \\n \u0000-less ünï 🚀`;

describe("hostile input through the App", () => {
  let h: Harness;
  before(async () => {
    h = await startHarness();
  });
  after(async () => {
    await h.close();
  });

  /** Everything the App wrote to GitHub, as one string. */
  const written = () =>
    JSON.stringify({ c: h.github.comments, r: h.github.checkRuns, d: h.github.deployments });

  it("a failing app's logs and events stay inside a fence; the cause is escaped", async () => {
    const commit = sha(0xb01);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    h.runtime.failNext({
      summary: `crashed ${XSS} ${LINK} @everyone`,
      events: [`Back-off ${FENCE_BREAK}`],
      state: `Exited ${XSS}`,
      exitCode: 1,
      logs: ["````", FENCE_BREAK, `${LINK} **bold** | table |`],
    });
    const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    assert.equal(res.status, 202);
    await h.app.deployer.idle();
    const check = h.github.checkRunsOf(FULL, commit)[0]!;
    assert.equal(check.conclusion, "failure");
    const summary = check.output.summary!;
    assert.ok(!summary.includes("<img"), summary);
    assert.ok(!summary.includes("](javascript"), summary);
    assert.ok(!/(^|[^\\])@everyone/.test(summary), "mentions are escaped");
    // The text: each fence is longer than any run of backticks inside it.
    const text = check.output.text!;
    const fences = [...text.matchAll(/^(`{3,})text$/gm)].map((m) => m[1]!);
    assert.equal(fences.length, 2);
    for (const f of fences) {
      const body = text.slice(text.indexOf(`${f}text\n`) + f.length + 5);
      const end = body.indexOf(`\n${f}`);
      assert.ok(end > 0, "the fence is closed by its own marker");
      const inside = body.slice(0, end);
      for (const run of inside.match(/`+/g) ?? []) assert.ok(run.length < f.length, "cannot close early");
    }
    assert.match(text, /onerror/, "the log lines are shown, as text");
    const status = h.github.deploymentsOf(FULL, "production").at(-1)!.statuses.at(-1)!;
    assert.ok(status.description.length <= 140);
  });

  it("config values reach the app exactly, as data (environment and Kubernetes YAML)", async () => {
    const commit = sha(0xb02);
    const config = `${VALID_CONFIG}env:\n  GREETING: ${JSON.stringify(VALUE.replace("\u0000-less", ""))}\n`;
    h.github.setFile(FULL, commit, ".paas.yml", config);
    const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    assert.equal(res.status, 202, JSON.stringify(res.json));
    await h.app.deployer.idle();
    const spec = h.runtime.applied.at(-1)!;
    const expected = VALUE.replace("\u0000-less", "");
    assert.equal(spec.env.GREETING, expected);
    const yaml = renderManifests(
      planKubernetes(spec, {
        routing: "httproute",
        gateway: { name: "gw", namespace: "gateway-system" },
        ingressNamespace: "gateway-system",
      }),
    );
    const docs = parseAllDocuments(yaml, { version: "1.1" }).map(
      (d) => d.toJSON() as Record<string, unknown>,
    );
    const cm = docs.find((d) => d.kind === "ConfigMap") as { data: Record<string, string> };
    assert.equal(cm.data.GREETING, expected, "the YAML round-trips the value: no injection");
    assert.equal(docs.filter((d) => d.kind === "ConfigMap").length, 1);
  });

  it("invalid environment variable names are refused with their .paas.yml lines", async () => {
    const commit = sha(0xb03);
    const bad = `${VALID_CONFIG}env:\n  "BAD-NAME": x\n  "1X": y\n  "A B": z\n  PAAS_URL: u\n  PORT: 1\n`;
    h.github.setFile(FULL, commit, ".paas.yml", bad);
    const applied = h.runtime.applied.length;
    const res = await h.handoff(handoffBody(commit), await h.tokenFor(h.claims({ sha: commit })));
    assert.equal(res.status, 422);
    const check = h.github.checkRunsOf(FULL, commit)[0]!;
    assert.equal(check.conclusion, "failure");
    assert.deepEqual(
      check.annotations.map((a) => a.start_line),
      [8, 9, 10, 11, 12],
    );
    assert.ok(
      check.annotations.every((a) => /environment variable name|set by the platform/.test(a.message)),
    );
    assert.equal(h.runtime.applied.length, applied, "nothing deployed");
  });

  it("hostile branch names and refs change nothing and are echoed only inside JSON", async () => {
    const commit = sha(0xb04);
    h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
    const before = h.github.log.length;
    for (const branch of [
      `$(rm -rf /)${XSS}`,
      "mаin" /* Cyrillic а */,
      "main\nx",
      "../main",
      "x".repeat(250),
    ])
      assert.equal(await h.webhook("push", h.pushPayload(`refs/heads/${branch}`, commit)), 200);
    assert.equal(h.github.counts(before).writes, 0);
    const res = await fetch(`${h.app.url}/paas/v1/deployments`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${await h.tokenFor(h.claims({ sha: commit, ref: `refs/heads/${XSS}` }))}`,
      },
      body: JSON.stringify(handoffBody(commit, { ref: `refs/heads/${XSS}`, environment: undefined })),
    });
    assert.equal(res.status, 403);
    assert.match(res.headers.get("content-type") ?? "", /^application\/json/);
    const json = (await res.json()) as { message: string };
    assert.match(json.message, /no environment in \.paas\.yml deploys from/);
  });

  it("prototype keys as environment names (constructor, __proto__, toString, hasOwnProperty) are refused from any ref: no deployment, status, check, route or DNS record", async () => {
    const names = ["constructor", "__proto__", "toString", "hasOwnProperty"];
    const before = h.github.log.length;
    const applied = h.runtime.applied.length;
    const records = h.dns.records.size;
    for (const [i, name] of names.entries())
      for (const ref of ["refs/heads/main", "refs/heads/evil"]) {
        const commit = sha(0xb40 + 2 * i + (ref.endsWith("evil") ? 1 : 0));
        h.github.setFile(FULL, commit, ".paas.yml", VALID_CONFIG);
        const res = await h.handoff(
          handoffBody(commit, { environment: name, ref }),
          await h.tokenFor(h.claims({ sha: commit, ref })),
        );
        assert.equal(res.status, 422, `${name} from ${ref}: ${JSON.stringify(res.json)}`);
        assert.equal(res.json.check, "environment");
        assert.match(String(res.json.message), /is not defined in \.paas\.yml \(defined: production\)/);
      }
    await h.app.deployer.idle();
    assert.equal(h.github.counts(before).writes, 0, "nothing written to GitHub");
    assert.equal(h.runtime.applied.length, applied, "nothing deployed");
    assert.equal(h.dns.records.size, records, "no DNS record");
    for (const name of names) assert.deepEqual(h.github.deploymentsOf(FULL, name), []);
  });

  it("PR titles and bodies are never rendered; logins in replies are escaped", async () => {
    const head = sha(0xb05);
    const pr = 61;
    h.github.setFile(FULL, "main", ".paas.yml", VALID_CONFIG);
    h.github.setFile(FULL, "main", ".github/workflows/paas.yml", DISPATCH_WORKFLOW);
    h.github.setFile(FULL, head, ".paas.yml", VALID_CONFIG);
    h.github.setPull(FULL, {
      number: pr,
      state: "open",
      headSha: head,
      mergeSha: null,
      headRef: "x",
      baseRef: "main",
      headRepoId: FORK_REPO_ID,
    });
    const payload = forkPullRequestPayload(h, "opened", pr, head);
    const pull = payload.pull_request as Record<string, unknown>;
    pull.title = `TITLE ${XSS} ${LINK}`;
    pull.body = `BODY ${FENCE_BREAK}`;
    assert.equal(await h.webhook("pull_request", payload), 200);
    // A login GitHub would not issue, in a signed payload: still escaped in the reply.
    assert.equal(await h.webhook("issue_comment", prCommentPayload(pr, "a_b*c<x>", "/paas deploy")), 200);
    const reply = h.github.commentsOf(FULL, pr).at(-1)!.body;
    assert.ok(reply.startsWith("@a\\_b\\*c&lt;x&gt;"), reply);
    assert.ok(
      !written().includes("TITLE") && !written().includes("BODY "),
      "titles and bodies are not shown",
    );
    assert.deepEqual(h.github.violations, []);
  });
});
