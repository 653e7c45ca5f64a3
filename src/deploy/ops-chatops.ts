// ChatOps: `/paas <command>` in a pull request or issue comment. Each command is
// answered once: an "eyes" reaction, then one reply that carries a hidden marker
// naming the comment, written BEFORE the operation runs and updated with its
// result. A redelivered webhook (the same comment id), in this process or after
// a restart on any replica, finds that marker and does nothing: at most once.
import { parseOpCommand } from "../core/operations.ts";
import { PaasError, messageOf } from "../errors.ts";
import type { GitHubPort, RepoInfo } from "../github/port.ts";
import type { OpRequest, OpResult } from "./ops.ts";

export type ChatOpsGitHub = Pick<
  GitHubPort,
  "listComments" | "createComment" | "updateComment" | "reactToComment"
>;

export interface OpsRunner {
  run(repo: RepoInfo, req: OpRequest): Promise<OpResult>;
}

export interface ChatOpsLogger {
  info(obj: Record<string, unknown>, msg: string): void;
  error(obj: Record<string, unknown>, msg: string): void;
}

/** The issue_comment.created facts a command needs. */
export interface CommandComment {
  commentId: number;
  issueNumber: number;
  isPullRequest: boolean;
  body: string;
  login: string;
  userType: string;
}

/** The hidden marker of the App's reply to one comment. */
export function replyMarker(commentId: number): string {
  return `<!-- paas-command-reply:${commentId} -->`;
}

const MAX_SEEN = 1000;

export class ChatOps {
  readonly #github: ChatOpsGitHub;
  readonly #ops: OpsRunner;
  readonly #log: ChatOpsLogger;
  /** Comments handled by this process: concurrent redeliveries see it before any await. */
  readonly #seen = new Set<string>();

  constructor(github: ChatOpsGitHub, ops: OpsRunner, log: ChatOpsLogger) {
    this.#github = github;
    this.#ops = ops;
    this.#log = log;
  }

  /** Handles a comment; true when it was a day-two command (answered now or before). */
  async commented(repo: RepoInfo, c: CommandComment): Promise<boolean> {
    const command = parseOpCommand(c.body);
    // Bots (this App's own replies included) never run commands.
    if (!command || c.userType === "Bot") return false;
    const key = `${repo.repositoryId}:${c.commentId}`;
    if (this.#seen.has(key)) return true;
    this.#seen.add(key);
    if (this.#seen.size > MAX_SEEN) this.#seen.delete(this.#seen.values().next().value!);
    const marker = replyMarker(c.commentId);
    const prior = await this.#github.listComments(repo, c.issueNumber);
    if (prior.some((p) => p.byBot && p.body.includes(marker))) {
      this.#log.info({ comment: c.commentId }, "command already answered");
      return true;
    }
    const quoted = `> \`/paas ${command.op}\` by @${c.login}`;
    await this.#github.reactToComment(repo, c.commentId, "eyes");
    // The reply first: once it exists, no redelivery runs the command again.
    const replyId = await this.#github.createComment(
      repo,
      c.issueNumber,
      `${marker}\n${quoted}\n\n⏳ Working on it…`,
    );
    let result: OpResult;
    try {
      result = await this.#ops.run(repo, {
        login: c.login,
        command,
        pr: c.isPullRequest ? c.issueNumber : undefined,
      });
    } catch (e) {
      this.#log.error({ err: messageOf(e), comment: c.commentId }, "command failed");
      // A PaasError's message is written for users; anything else stays in the App's log.
      result = {
        ok: false,
        text:
          e instanceof PaasError
            ? `Failed: ${e.message}`
            : "Failed: the App hit an error (see its log). Nothing else was changed.",
      };
    }
    await this.#github.updateComment(
      repo,
      replyId,
      `${marker}\n${quoted}\n\n${result.ok ? "✅" : "❌"} ${result.text}`,
    );
    return true;
  }
}
