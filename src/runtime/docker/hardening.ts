// What every container paas creates runs under, the web process's and the
// scheduled runs' alike. Its own module so the plan (plan.ts) and the roles
// (processes.ts) cannot drift apart on a security setting.
import type Docker from "dockerode";

/** The engine settings no app container goes without; resources, ports and network are the caller's. */
export function hardenedHostConfig(): Docker.HostConfig {
  return {
    // No restarts until healthy: a crash at start keeps its exit code and logs for the diagnosis.
    RestartPolicy: { Name: "no" },
    CapDrop: ["ALL"],
    SecurityOpt: ["no-new-privileges:true"],
    ReadonlyRootfs: true,
    Tmpfs: { "/tmp": "rw,nosuid,nodev,size=256m" },
    // A tiny init as PID 1 forwards SIGTERM, so `docker stop` drains instead of waiting for SIGKILL.
    Init: true,
    LogConfig: { Type: "json-file", Config: { "max-size": "10m", "max-file": "3" } },
  };
}
