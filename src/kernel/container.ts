// The container (and Kubernetes pod) a cgroup path names, from the names
// container runtimes give their cgroups, with the systemd cgroup driver
// ("docker-<id>.scope") and with cgroupfs ("/docker/<id>").
export interface Container {
  /** docker, containerd, cri-o, podman; null where the path gives an id but not who made it (kubepods with cgroupfs). */
  runtime: string | null;
  /** The 64-hex container id; null for a pod's own cgroup. */
  id: string | null;
  /** The Kubernetes pod UID, for kubepods paths. */
  pod: string | null;
}

const ID = '([0-9a-f]{64})';
/** A path component that is a container's cgroup: the runtime, and the pattern that captures the id. */
const CONTAINER_COMPONENTS: ReadonlyArray<[string, RegExp]> = [
  ['docker', new RegExp(`^docker-${ID}\\.scope$`)],
  ['containerd', new RegExp(`^cri-containerd-${ID}\\.scope$`)],
  ['cri-o', new RegExp(`^crio-${ID}(?:\\.scope)?$`)],
  ['podman', new RegExp(`^libpod-${ID}(?:\\.scope)?$`)],
];
/** cgroupfs drivers name the container's cgroup by its bare id, under its runtime's or the pod's. */
const BARE_ID = new RegExp(`^${ID}$`);
/** kubepods/<qos>/pod<uid> (cgroupfs), kubepods-<qos>-pod<uid with _ for ->.slice (systemd). */
const POD = /^(?:pod([0-9a-f-]{36})|kubepods(?:-\w+)?-pod([0-9a-f_]{36})\.slice)$/;

export function containerOf(path: string): Container | null {
  const components = path.split('/').filter((c) => c !== '');
  let pod: string | null = null;
  for (const component of components) {
    const match = POD.exec(component);
    if (match) pod = match[1] ?? match[2].replace(/_/g, '-');
  }
  // The innermost container wins: a container inside another's cgroup is the one the socket is in.
  for (let i = components.length - 1; i >= 0; i--) {
    for (const [runtime, pattern] of CONTAINER_COMPONENTS) {
      const match = pattern.exec(components[i]);
      if (match) return { runtime, id: match[1], pod };
    }
    const bare = BARE_ID.exec(components[i]);
    if (bare) return { runtime: components[i - 1] === 'docker' ? 'docker' : null, id: bare[1], pod };
  }
  return pod === null ? null : { runtime: null, id: null, pod };
}
