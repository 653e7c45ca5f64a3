// issue_comment webhook → fork approval: extracts the few facts the command needs.
import type { ForkApprovals } from "./forks.ts";
import { repoInfo } from "./handlers.ts";

interface IssueCommentPayload {
  action: string;
  issue: { number: number; pull_request?: unknown };
  comment: { body?: string | null; user: { login: string; type?: string } | null };
  repository?: Parameters<typeof repoInfo>[0]["repository"];
  installation?: { id: number } | null;
}

export async function onIssueComment(forks: ForkApprovals, p: IssueCommentPayload): Promise<void> {
  const repo = repoInfo(p);
  if (!repo || p.action !== "created" || !p.comment.user) return;
  await forks.commented(repo, {
    issueNumber: p.issue.number,
    isPullRequest: p.issue.pull_request != null,
    body: p.comment.body ?? "",
    login: p.comment.user.login,
    userType: p.comment.user.type ?? "User",
  });
}
