// The Probot app: wires webhook events to handlers, nothing else. The server
// (server.ts) mounts it; it imports nothing above the handlers.
import type { Probot } from "probot";
import { onIssueComment } from "../app/approval-handler.ts";
import type { Deployer } from "../app/deployer.ts";
import type { ForkApprovals } from "../app/forks.ts";
import type { Onboarding } from "../deploy/onboarding.ts";
import {
  onCheckRunRequestedAction,
  onCheckRunRerequested,
  onInstallation,
  onPullRequest,
  onPush,
} from "../app/handlers.ts";
import type { CheckButtons } from "../deploy/ops-buttons.ts";
import type { ChatOps } from "../deploy/ops-chatops.ts";

/** Day two (docs/day-two.md): `/paas` commands and the check run's buttons. */
export interface DayTwo {
  chatops: ChatOps;
  buttons: CheckButtons;
}

export function paasApp(deployer: Deployer, forks?: ForkApprovals, onboarding?: Onboarding, dayTwo?: DayTwo) {
  return (app: Probot): void => {
    app.on(
      ["pull_request.opened", "pull_request.reopened", "pull_request.synchronize", "pull_request.closed"],
      (ctx) => onPullRequest(deployer, ctx.payload),
    );
    app.on("push", (ctx) => onPush(deployer, ctx.payload));
    app.on("check_run.rerequested", (ctx) => onCheckRunRerequested(deployer, ctx.payload));
    app.on(["installation", "installation_repositories"], (ctx) =>
      onInstallation(deployer, ctx.payload, onboarding),
    );
    app.on("issue_comment.created", (ctx) =>
      onIssueComment({ forks, chatops: dayTwo?.chatops }, ctx.payload),
    );
    if (dayTwo)
      app.on("check_run.requested_action", (ctx) => onCheckRunRequestedAction(dayTwo.buttons, ctx.payload));
  };
}
