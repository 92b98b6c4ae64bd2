/**
 * The one conversion from a recorded Pulumi Kubernetes resource to the manifest it applies. The
 * offline plan writes these manifests and the tests validate them, so both see the same objects.
 */

/** What the conversion needs of a recorded resource (tests/harness.ts `ResourceRecord` fits). */
export interface RecordedResource {
  type: string;
  inputs: Record<string, unknown>;
}

export interface KubernetesManifest {
  apiVersion: string;
  kind: string;
  metadata?: { name?: string; namespace?: string; [k: string]: unknown };
  [field: string]: unknown;
}

/**
 * Kubernetes resource types that are not one object: Helm releases and charts, YAML and Kustomize
 * groups (their objects are registered as resources of their own, or are opaque to Pulumi).
 */
const NOT_AN_OBJECT = /^kubernetes:(helm\.sh\/|yaml(\/v\d+)?:|kustomize(\/v\d+)?:)/;

/** Token of `k8s.apiextensions.CustomResource` in older SDKs; newer ones use `kubernetes:<apiVersion>:<kind>`. */
const GENERIC_CUSTOM_RESOURCE = "kubernetes:apiextensions.k8s.io:CustomResource";

/**
 * `kubernetes:apps/v1:Deployment` → `{apiVersion: "apps/v1", kind: "Deployment"}`; the core group is
 * spelled `core/v1` in tokens and `v1` in manifests. Custom resources use the same token shape,
 * `kubernetes:<apiVersion>:<kind>`. Undefined for anything that is not one Kubernetes object:
 * other providers, Helm releases, YAML groups, and `…Patch`/`…List` types (partial or plural).
 */
export function kubernetesTypeOf(
  type: string,
  inputs: Record<string, unknown> = {},
): { apiVersion: string; kind: string } | undefined {
  if (!type.startsWith("kubernetes:") || NOT_AN_OBJECT.test(type)) return undefined;
  if (type === GENERIC_CUSTOM_RESOURCE) {
    const { apiVersion, kind } = inputs;
    if (typeof apiVersion !== "string" || typeof kind !== "string") {
      throw new Error(`${type}: a custom resource needs apiVersion and kind in its inputs`);
    }
    return { apiVersion, kind };
  }
  const match = /^kubernetes:(.+):([A-Za-z0-9]+)$/.exec(type);
  if (!match) throw new Error(`${type}: not a kubernetes:<apiVersion>:<Kind> type token`);
  const [, group, kind] = match;
  if (/(Patch|List)$/.test(kind)) return undefined;
  return { apiVersion: group === "core/v1" ? "v1" : group, kind };
}

/**
 * The manifest a Kubernetes resource applies: apiVersion and kind from its type token, then its
 * inputs as they are. Fields the API server fills (a generated `metadata.name` with Pulumi's random
 * suffix when none is given, defaults) are not invented here. Undefined for non-objects.
 */
export function toManifest(record: RecordedResource): KubernetesManifest | undefined {
  const type = kubernetesTypeOf(record.type, record.inputs);
  if (!type) return undefined;
  const { apiVersion, kind, ...fields } = record.inputs;
  for (const [field, declared, derived] of [
    ["apiVersion", apiVersion, type.apiVersion],
    ["kind", kind, type.kind],
  ] as const) {
    if (declared !== undefined && declared !== derived) {
      throw new Error(
        `${record.type}: inputs say ${field} ${String(declared)}, the type token says ${derived}`,
      );
    }
  }
  return { apiVersion: type.apiVersion, kind: type.kind, ...fields } as KubernetesManifest;
}
