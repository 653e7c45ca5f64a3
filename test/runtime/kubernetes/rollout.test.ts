// Rollout judgement as kubectl rollout status makes it, and failure findings.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  findFailingContainer,
  formatEvents,
  podFailure,
  podsStarting,
  progressMark,
  pullFailing,
  rolloutStatus,
} from "../../../src/runtime/kubernetes/rollout.ts";

const d = (generation: number, spec: number | undefined, status: Record<string, unknown>) => ({
  metadata: { generation },
  spec: spec === undefined ? {} : { replicas: spec },
  status,
});

test("rollout status follows kubectl: observed generation, updated, old, available replicas", () => {
  assert.equal(
    rolloutStatus(d(2, 3, { observedGeneration: 1, replicas: 3, updatedReplicas: 3, availableReplicas: 3 }))
      .state,
    "progressing",
  );
  assert.deepEqual(
    rolloutStatus(d(2, 3, { observedGeneration: 2, replicas: 4, updatedReplicas: 1, availableReplicas: 3 })),
    {
      state: "progressing",
      message: "1 of 3 updated replicas are available",
    },
  );
  assert.deepEqual(
    rolloutStatus(d(2, 3, { observedGeneration: 2, replicas: 4, updatedReplicas: 3, availableReplicas: 3 })),
    {
      state: "progressing",
      message: "1 old replicas are pending termination",
    },
  );
  assert.deepEqual(
    rolloutStatus(d(2, 3, { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 2 })),
    {
      state: "progressing",
      message: "2 of 3 updated replicas are available",
    },
  );
  assert.deepEqual(
    rolloutStatus(d(2, 3, { observedGeneration: 2, replicas: 3, updatedReplicas: 3, availableReplicas: 3 })),
    {
      state: "done",
      ready: 3,
    },
  );
  // Scaled to zero is a finished rollout.
  assert.equal(rolloutStatus(d(1, 0, { observedGeneration: 1 })).state, "done");
  const deadline = rolloutStatus(
    d(2, 3, {
      observedGeneration: 2,
      replicas: 4,
      updatedReplicas: 1,
      conditions: [
        {
          type: "Progressing",
          status: "False",
          reason: "ProgressDeadlineExceeded",
          message: 'ReplicaSet "web-1" has timed out progressing.',
        },
      ],
    }),
  );
  assert.equal(deadline.state, "failed");
  assert.match((deadline as { reason: string }).reason, /ProgressDeadlineExceeded.*timed out/);
});

const crashing = (restartCount: number) => ({
  metadata: { name: "web-1" },
  status: {
    containerStatuses: [
      {
        name: "web",
        ready: false,
        restartCount,
        state: { waiting: { reason: "CrashLoopBackOff" } },
        lastState: { terminated: { exitCode: 3, reason: "Error" } },
      },
    ],
  },
});

test("pod failures end a rollout early: pull errors once the retry failed too, crash loops after some restarts", () => {
  assert.equal(podFailure([crashing(1)], 3), undefined, "an early crash may be a slow dependency");
  assert.equal(podFailure([crashing(3)], 3), "CrashLoopBackOff");
  const pull = {
    metadata: { name: "web-1" },
    status: { containerStatuses: [{ state: { waiting: { reason: "ErrImagePull" } } }] },
  };
  const failedPull = (count: number) => ({
    reason: "Failed",
    message: 'Failed to pull image "x": not found',
    count,
    involvedObject: { kind: "Pod", name: "web-1" },
  });
  assert.equal(podFailure([pull], 3), undefined, "one failed pull may be a registry hiccup");
  assert.equal(podFailure([pull], 3, [failedPull(1)]), undefined);
  assert.equal(podFailure([pull], 3, [failedPull(2)]), "ErrImagePull", "the kubelet's retry failed too");
  assert.equal(podFailure([pull], 3, [failedPull(1), failedPull(1)]), "ErrImagePull");
  const invalid = { status: { containerStatuses: [{ state: { waiting: { reason: "InvalidImageName" } } }] } };
  assert.equal(podFailure([invalid], 3), "InvalidImageName", "a bad name never fixes itself");
  const config = {
    status: { containerStatuses: [{ state: { waiting: { reason: "CreateContainerConfigError" } } }] },
  };
  assert.equal(podFailure([config], 3), "CreateContainerConfigError");
  assert.equal(
    podFailure([{ status: { containerStatuses: [{ state: { running: {} }, ready: false }] } }], 3),
    undefined,
  );
});

test("the failing container: crash exit code, failing health checks, from the events", () => {
  const f = findFailingContainer([crashing(4)], []);
  assert.deepEqual(f, {
    pod: "web-1",
    container: "web",
    state: "CrashLoopBackOff",
    exitCode: 3,
    previousLogs: true,
    summary: "container exited with code 3 (CrashLoopBackOff)",
  });
  const unready = {
    metadata: { name: "web-2" },
    status: { containerStatuses: [{ name: "web", ready: false, state: { running: {} } }] },
  };
  const probe = findFailingContainer(
    [unready],
    [
      {
        involvedObject: { kind: "Pod", name: "web-2" },
        reason: "Unhealthy",
        type: "Warning",
        message: "Readiness probe failed: HTTP probe failed with statuscode: 503",
      },
    ],
  );
  assert.equal(probe?.state, "Unhealthy");
  assert.match(
    probe!.summary,
    /health check failing: Readiness probe failed: HTTP probe failed with statuscode: 503/,
  );
  assert.equal(
    findFailingContainer(
      [
        {
          metadata: { name: "ok" },
          status: { containerStatuses: [{ ready: true, state: { running: {} } }] },
        },
      ],
      [],
    ),
    undefined,
  );
});

test("events are listed oldest first, one line each", () => {
  const lines = formatEvents([
    {
      type: "Warning",
      reason: "BackOff",
      message: "Back-off",
      count: 5,
      involvedObject: { kind: "Pod", name: "web-1" },
      lastTimestamp: "2026-01-01T00:00:02Z",
    },
    {
      type: "Normal",
      reason: "Pulled",
      message: "pulled",
      involvedObject: { kind: "Pod", name: "web-1" },
      lastTimestamp: "2026-01-01T00:00:01Z",
    },
  ]);
  assert.deepEqual(lines, ["Normal Pulled pod/web-1: pulled", "Warning BackOff pod/web-1: Back-off (x5)"]);
});

test("progress is any change of the replica counts; pods being created are starting, not stalled", () => {
  const d = (updated: number, ready: number) => ({
    status: { observedGeneration: 2, replicas: 10, updatedReplicas: updated, readyReplicas: ready },
  });
  assert.equal(progressMark(d(3, 0)), progressMark(d(3, 0)));
  assert.notEqual(progressMark(d(3, 0)), progressMark(d(3, 1)));
  assert.notEqual(progressMark(d(3, 3)), progressMark(d(6, 3)));
  const waiting = (reason: string) => ({
    status: { containerStatuses: [{ state: { waiting: { reason } } }] },
  });
  assert.equal(podsStarting([waiting("ContainerCreating")]), true, "an image pull is not a stall");
  assert.equal(podsStarting([waiting("CrashLoopBackOff")]), false);
  assert.equal(pullFailing([waiting("ImagePullBackOff")]), true);
  assert.equal(pullFailing([waiting("ContainerCreating")]), false);
});
