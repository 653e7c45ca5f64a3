// The Pod Security Standards "restricted" profile, checked rule by rule as
// k8s.io/pod-security-admission does, for pods we generate and the App's own.
type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

/** The Pod Security Standards "restricted" profile, checked rule by rule (k8s.io/pod-security-admission). */
export function restrictedViolations(pod: Json): string[] {
  const v: string[] = [];
  const allowedVolumes = new Set([
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
    "name",
  ]);
  const safeSysctls = new Set([
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
  ]);
  if (pod.hostNetwork) v.push("hostNetwork");
  if (pod.hostPID) v.push("hostPID");
  if (pod.hostIPC) v.push("hostIPC");
  for (const vol of pod.volumes ?? []) {
    for (const k of Object.keys(vol)) if (!allowedVolumes.has(k)) v.push(`volume type ${k}`);
  }
  const psc = pod.securityContext ?? {};
  for (const s of psc.sysctls ?? []) if (!safeSysctls.has(s.name)) v.push(`sysctl ${s.name}`);
  if (psc.runAsUser === 0) v.push("pod runAsUser 0");
  if (
    psc.seLinuxOptions?.type &&
    !["container_t", "container_init_t", "container_kvm_t"].includes(psc.seLinuxOptions.type)
  ) {
    v.push("seLinux type");
  }
  if (psc.appArmorProfile?.type === "Unconfined") v.push("appArmor Unconfined");
  const podSeccomp = psc.seccompProfile?.type;
  if (podSeccomp === "Unconfined") v.push("pod seccomp Unconfined");
  const containers = [
    ...(pod.containers ?? []),
    ...(pod.initContainers ?? []),
    ...(pod.ephemeralContainers ?? []),
  ];
  for (const c of containers) {
    const sc = c.securityContext ?? {};
    const where = `container ${c.name}`;
    if (sc.privileged) v.push(`${where}: privileged`);
    if (sc.allowPrivilegeEscalation !== false) v.push(`${where}: allowPrivilegeEscalation must be false`);
    if (!(sc.capabilities?.drop ?? []).includes("ALL")) v.push(`${where}: capabilities must drop ALL`);
    for (const cap of sc.capabilities?.add ?? [])
      if (cap !== "NET_BIND_SERVICE") v.push(`${where}: adds ${cap}`);
    if (!(sc.runAsNonRoot === true || (sc.runAsNonRoot === undefined && psc.runAsNonRoot === true))) {
      v.push(`${where}: runAsNonRoot must be true`);
    }
    if (sc.runAsUser === 0) v.push(`${where}: runAsUser 0`);
    const seccomp = sc.seccompProfile?.type ?? podSeccomp;
    if (seccomp !== "RuntimeDefault" && seccomp !== "Localhost")
      v.push(`${where}: seccompProfile must be RuntimeDefault`);
    if (sc.procMount && sc.procMount !== "Default") v.push(`${where}: procMount`);
    for (const p of c.ports ?? []) if (p.hostPort) v.push(`${where}: hostPort`);
  }
  return v;
}
