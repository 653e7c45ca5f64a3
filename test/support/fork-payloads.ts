// Webhook payloads of fork pull requests and PR comments, from the real
// examples of @octokit/webhooks-examples adjusted to the harness' repository.
import { createRequire } from "node:module";
import { FULL, INSTALLATION_ID, OWNER, OWNER_ID, REPO, REPO_ID, type Harness } from "./app-harness.ts";

const require = createRequire(import.meta.url);
const examples = require("@octokit/webhooks-examples") as {
  name: string;
  examples: Record<string, unknown>[];
}[];

export const FORK_REPO_ID = 880088;
export const FORK_OWNER = "outside-contributor";

/** A pull_request payload whose head is a fork of the harness' repository. */
export function forkPullRequestPayload(
  h: Harness,
  action: "opened" | "synchronize" | "closed",
  pr: number,
  headSha: string,
): Record<string, unknown> {
  const p = h.pullRequestPayload(action, pr, headSha);
  const pull = p.pull_request as Record<string, unknown>;
  pull.head = {
    ...(pull.head as object),
    repo: {
      id: FORK_REPO_ID,
      name: REPO,
      full_name: `${FORK_OWNER}/${REPO}`,
      owner: { login: FORK_OWNER, id: 880000, type: "User" },
      fork: true,
    },
  };
  return p;
}

/** issue_comment.created on PR `pr` by `login`. */
export function prCommentPayload(
  pr: number,
  login: string,
  body: string,
  userType: "User" | "Bot" = "User",
): Record<string, unknown> {
  const found = examples
    .find((e) => e.name === "issue_comment")
    ?.examples.find((e) => e.action === "created" && "installation" in e);
  if (!found) throw new Error("no issue_comment example");
  const p = structuredClone(found);
  const issue = p.issue as Record<string, unknown>;
  issue.number = pr;
  issue.pull_request = {
    url: `https://api.github.com/repos/${FULL}/pulls/${pr}`,
    html_url: `https://github.com/${FULL}/pull/${pr}`,
  };
  const comment = p.comment as Record<string, unknown>;
  comment.body = body;
  comment.user = { ...(comment.user as object), login, type: userType };
  p.sender = { ...(p.sender as object), login, type: userType };
  p.repository = {
    ...(p.repository as object),
    id: REPO_ID,
    name: REPO,
    full_name: FULL,
    owner: { login: OWNER, id: OWNER_ID, type: "Organization" },
    default_branch: "main",
  };
  p.installation = { id: INSTALLATION_ID, node_id: "x" };
  return p;
}

/** The repository's paas workflow with the workflow_dispatch trigger fork approvals need. */
export const DISPATCH_WORKFLOW = `name: paas
on:
  push:
    branches: [main]
  pull_request:
  workflow_dispatch:
    inputs:
      pr:
        required: true
      sha:
        required: true
`;
