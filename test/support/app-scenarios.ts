// The steps end-to-end scenarios are made of, over the App harness
// (app-harness.ts): a suite's App started and stopped around it, a commit with
// its .paas.yml, a pull request as GitHub shows it, its webhook, and the
// Action's hand-offs from a pull_request or a push run. Tests read as the
// scenario they check; the set-up lives here once.
import { after, before } from "node:test";
import type { DnsProvider } from "../../src/dns/types.ts";
import type { Runtime } from "../../src/runtime/types.ts";
import type { ActionsTokenClaims } from "../fakes/oidc-issuer.ts";
import { FULL, handoffBody, startHarness, VALID_CONFIG, type Harness } from "./app-harness.ts";

type Answer = Awaited<ReturnType<Harness["handoff"]>>;

/**
 * One App for the enclosing `describe`: started before its tests, stopped after them.
 * The returned object is the harness (read it inside tests and hooks only).
 */
export function suiteHarness(
  env: Record<string, string> = {},
  platform: { runtime?: Runtime; dns?: DnsProvider } = {},
): Harness {
  let started: Harness | undefined;
  before(async () => {
    started = await startHarness(env, platform);
  });
  after(async () => {
    await started?.close();
  });
  return new Proxy({} as Harness, {
    get(_target, key) {
      if (!started) throw new Error("the suite's App is not started: use it inside a test or hook");
      const value = Reflect.get(started, key, started) as unknown;
      return typeof value === "function" ? (value as (...a: unknown[]) => unknown).bind(started) : value;
    },
    set(_target, key, value) {
      if (!started) throw new Error("the suite's App is not started");
      return Reflect.set(started, key, value, started);
    },
  });
}

/** The .paas.yml at a commit of the repository. */
export function configAt(h: Harness, sha: string, config: string = VALID_CONFIG): void {
  h.github.setFile(FULL, sha, ".paas.yml", config);
}

/** Pull request `pr` as GitHub shows it: open (unless said) at `head`, with its merge commit. */
export function pullRequest(
  h: Harness,
  pr: number,
  head: string,
  o: { merge?: string | null; state?: "open" | "closed"; headRef?: string } = {},
): void {
  h.github.setPull(FULL, {
    number: pr,
    state: o.state ?? "open",
    headSha: head,
    mergeSha: o.merge === undefined ? null : o.merge,
    headRef: o.headRef ?? "feature",
    baseRef: "main",
  });
}

/** The signed pull_request webhook of `action` for `pr` at `head`; answers the App's HTTP status. */
export function pullRequestEvent(
  h: Harness,
  action: "opened" | "synchronize" | "closed" | "reopened",
  pr: number,
  head: string,
  extra?: { merged?: boolean },
): Promise<number> {
  return h.webhook("pull_request", h.pullRequestPayload(action, pr, head, extra));
}

/**
 * The hand-off of a pull_request run of `pr` that built `sha` (the run's token names
 * `tokenSha`, the merge commit it checked out; by default `sha`) for `preview/pr-<pr>`.
 */
export async function previewHandoff(
  h: Harness,
  pr: number,
  sha: string,
  o: { tokenSha?: string; body?: Record<string, unknown> } = {},
): Promise<Answer> {
  const ref = `refs/pull/${pr}/merge`;
  const claims = h.claims({ event_name: "pull_request", ref, sha: o.tokenSha ?? sha });
  return h.handoff(
    handoffBody(sha, { ref, environment: `preview/pr-${pr}`, ...o.body }),
    await h.tokenFor(claims),
  );
}

/** The hand-off of a push run that built `sha` (refs/heads/main and production unless said). */
export async function pushHandoff(
  h: Harness,
  sha: string,
  o: { claims?: Partial<ActionsTokenClaims>; body?: Record<string, unknown> } = {},
): Promise<Answer> {
  return h.handoff(handoffBody(sha, o.body), await h.tokenFor(h.claims({ sha, ...o.claims })));
}
