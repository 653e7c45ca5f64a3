// issue_comment webhook → a day-two command (src/deploy/ops-chatops.ts) or a
// fork approval (`/paas deploy`): extracts the few facts the commands need.
import type { ChatOps } from "../deploy/ops-chatops.ts";
import type { ForkApprovals } from "./forks.ts";
import { repoInfo } from "./handlers.ts";

interface IssueCommentPayload {
  action: string;
  issue: { number: number; pull_request?: unknown };
  comment: { id: number; body?: string | null; user: { login: string; type?: string } | null };
  repository?: Parameters<typeof repoInfo>[0]["repository"];
  installation?: { id: number } | null;
}

export async function onIssueComment(
  handlers: { forks?: ForkApprovals | undefined; chatops?: ChatOps | undefined },
  p: IssueCommentPayload,
): Promise<void> {
  const repo = repoInfo(p);
  if (!repo || p.action !== "created" || !p.comment.user) return;
  const facts = {
    issueNumber: p.issue.number,
    isPullRequest: p.issue.pull_request != null,
    body: p.comment.body ?? "",
    login: p.comment.user.login,
    userType: p.comment.user.type ?? "User",
  };
  if (await handlers.chatops?.commented(repo, { ...facts, commentId: p.comment.id })) return;
  await handlers.forks?.commented(repo, facts);
}
