// Webhook handlers: extract the few facts each event carries and call the core.
import type { RepoInfo } from "../github/port.ts";
import type { CheckButtons } from "../deploy/ops-buttons.ts";
import type { Deployer } from "./deployer.ts";
import type { Onboarding } from "../deploy/onboarding.ts";

interface RepoPayload {
  repository?: {
    id: number;
    name: string;
    owner: { login?: string; name?: string | null; id: number } | null;
    default_branch?: string;
  } | null;
  installation?: { id: number } | null;
}

export function repoInfo(p: RepoPayload): RepoInfo | undefined {
  const owner = p.repository?.owner;
  const login = owner?.login ?? owner?.name;
  if (!p.repository || !p.installation || !owner || !login) return undefined;
  return {
    owner: login,
    repo: p.repository.name,
    installationId: p.installation.id,
    repositoryId: p.repository.id,
    ownerId: owner.id,
  };
}

export async function onPullRequest(
  d: Deployer,
  p: RepoPayload & {
    action: string;
    number: number;
    pull_request: { head: { sha: string; repo?: { id: number } | null } };
  },
): Promise<void> {
  const repo = repoInfo(p);
  if (!repo) return;
  d.noteDefaultBranch(repo.repositoryId, p.repository?.default_branch);
  if (p.action === "closed") return d.pullRequestClosed(repo, p.number);
  if (p.action === "opened" || p.action === "reopened" || p.action === "synchronize") {
    // A deleted fork has no head repository: treat it as a fork too.
    const fork = p.pull_request.head.repo?.id !== repo.repositoryId;
    return d.pullRequestUpdated(repo, p.number, p.pull_request.head.sha, {
      fork,
      opened: p.action === "opened",
    });
  }
}

export async function onPush(
  d: Deployer,
  p: RepoPayload & { ref: string; after: string; deleted?: boolean },
): Promise<void> {
  const repo = repoInfo(p);
  if (!repo || p.deleted) return;
  d.noteDefaultBranch(repo.repositoryId, p.repository?.default_branch);
  await d.pushed(repo, p.ref, p.after, p.repository?.default_branch);
}

export async function onCheckRunRerequested(
  d: Deployer,
  p: RepoPayload & { check_run: { head_sha: string; name: string } },
): Promise<void> {
  const repo = repoInfo(p);
  if (!repo) return;
  await d.checkRerequested(repo, p.check_run.head_sha, p.check_run.name);
}

/** A button on the paas check (src/deploy/ops-buttons.ts): the sender is who clicked. */
export async function onCheckRunRequestedAction(
  buttons: CheckButtons,
  p: RepoPayload & {
    check_run: { head_sha: string; name: string };
    requested_action?: { identifier?: string } | null;
    sender: { login: string } | null;
  },
): Promise<void> {
  const repo = repoInfo(p);
  const identifier = p.requested_action?.identifier;
  if (!repo || !identifier || !p.sender) return;
  await buttons.clicked(repo, {
    headSha: p.check_run.head_sha,
    checkName: p.check_run.name,
    identifier,
    login: p.sender.login,
  });
}

interface InstallationPayload {
  action: string;
  installation: { id: number; account: { login?: string; slug?: string; id: number } | null };
  repositories?: { id: number; name: string; full_name: string }[];
  repositories_added?: { id: number; name: string; full_name: string }[];
  repositories_removed?: { id?: number; name?: string }[];
}

/**
 * Keeps the installation cache in step: new repositories are known at once, removed ones are refused at once.
 * Repositories the App was just installed on get the onboarding pull request (src/deploy/onboarding.ts).
 */
export function onInstallation(d: Deployer, p: InstallationPayload, onboarding?: Onboarding): void {
  const account = p.installation.account;
  if (p.action === "deleted" || p.action === "suspend") {
    d.forgetInstallation(p.installation.id);
    return;
  }
  const login = account?.login ?? account?.slug;
  if (!account || !login) return;
  const added: RepoInfo[] = [...(p.repositories ?? []), ...(p.repositories_added ?? [])].map((r) => ({
    owner: login,
    repo: r.name,
    installationId: p.installation.id,
    repositoryId: r.id,
    ownerId: account.id,
  }));
  for (const r of added) d.noteRepository(r);
  if (onboarding && (p.action === "created" || p.action === "added")) onboarding.repositoriesAdded(added);
  for (const r of p.repositories_removed ?? []) if (r.id !== undefined) d.forgetRepository(r.id);
}
