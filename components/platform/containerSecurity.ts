import * as k8s from "@pulumi/kubernetes";
import { ResourceSpec } from "../contracts";

type SecurityContext = k8s.types.input.core.v1.SecurityContext;

/** The trainer image's user (`USER 10001` in trainer-image/Dockerfile): Ray pods and pipeline steps run as it. */
export const TRAINER_UID = 10001;
type PodSecurityContext = k8s.types.input.core.v1.PodSecurityContext;

/**
 * The container settings of the "restricted" Pod Security Standard: no privilege escalation, no
 * capabilities, a non-root user, the runtime's default seccomp profile. `readOnlyRootFilesystem`
 * is opt-in because only some images (exporters, the MLflow server with an emptyDir /tmp) are known
 * to write nowhere else.
 */
export function restrictedContainer(
  options: { runAsUser?: number; readOnlyRootFilesystem?: boolean } = {},
): SecurityContext {
  return {
    allowPrivilegeEscalation: false,
    capabilities: { drop: ["ALL"] },
    privileged: false,
    readOnlyRootFilesystem: options.readOnlyRootFilesystem ?? false,
    runAsNonRoot: true,
    ...(options.runAsUser !== undefined ? { runAsUser: options.runAsUser } : {}),
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** A pod that runs as `uid` and owns its volumes through the same group. */
export function nonRootPod(uid: number): PodSecurityContext {
  return {
    runAsNonRoot: true,
    runAsUser: uid,
    runAsGroup: uid,
    fsGroup: uid,
    seccompProfile: { type: "RuntimeDefault" },
  };
}

/** Config's requests:limits as a container's `resources` (a fresh copy: config is frozen). */
export function containerResources(spec: ResourceSpec): {
  requests: { cpu: string; memory: string };
  limits: { cpu: string; memory: string };
} {
  return { requests: { ...spec.requests }, limits: { ...spec.limits } };
}

/** Memory quantity (`512Mi`, `4Gi`) in MiB. */
export function mebibytes(quantity: string): number {
  const m = /^(\d+)(Mi|Gi)$/.exec(quantity);
  if (!m) throw new Error(`memory quantity ${quantity}: expected <n>Mi or <n>Gi`);
  return Number(m[1]) * (m[2] === "Gi" ? 1024 : 1);
}
