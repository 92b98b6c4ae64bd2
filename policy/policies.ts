import {
  EnforcementLevel,
  Policies,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  Secret,
  StackValidationPolicy,
} from "@pulumi/policy";
import { gatewayReplicas, plainSecretData, PolicyInput, RESOURCE_RULES } from "./rules";

/**
 * The policies of the pack. `pulumi preview --policy-pack policy --policy-pack-config
 * policy/config/<stack>.json` runs them; index.ts only wraps them in a PolicyPack (one per process).
 */
const mandatory: EnforcementLevel = "mandatory";

const resourcePolicies: ResourceValidationPolicy[] = Object.entries(RESOURCE_RULES).map(([name, rule]) => ({
  name,
  description: rule.description,
  enforcementLevel: mandatory,
  validateResource: (args: ResourceValidationArgs, reportViolation: (message: string) => void) => {
    for (const v of rule.check({ type: args.type, name: args.name, props: args.props })) reportViolation(v);
  },
}));

/** The proxy's target: the engine's props with `Secret` wrappers still in place. */
function rawProps(props: unknown): unknown {
  let value = props as Record<string, unknown> | undefined;
  for (let i = 0; i < 4; i++) {
    const target = value?.["__getSpecialProxyTarget"] as Record<string, unknown> | undefined;
    if (target === undefined || target === value) break;
    value = target;
  }
  return value;
}

/** Plain props plus the dotted paths that arrived as secrets. */
export function splitSecrets(
  value: unknown,
  at = "",
  paths: string[] = [],
): { props: unknown; secretPaths: string[] } {
  if (value instanceof Secret) {
    paths.push(at || "(root)");
    return { props: splitSecrets(value.value, at, []).props, secretPaths: paths };
  }
  if (Array.isArray(value))
    return { props: value.map((v, i) => splitSecrets(v, `${at}[${i}]`, paths).props), secretPaths: paths };
  if (value && typeof value === "object" && Object.getPrototypeOf(value) === Object.prototype) {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) out[k] = splitSecrets(v, at ? `${at}.${k}` : k, paths).props;
    return { props: out, secretPaths: paths };
  }
  return { props: value, secretPaths: paths };
}

export class PlainSecretDataError extends Error {}

/**
 * Validation policies see secrets already unwrapped, so this one runs in the remediation phase,
 * which gets the engine's props with secrets marked. It changes nothing; a violation throws,
 * which stops the preview or update.
 */
export const secretDataPolicy: ResourceValidationPolicy = {
  name: "k8s-secret-data-is-secret",
  description: "Every Kubernetes Secret's data and stringData come from Pulumi secrets.",
  enforcementLevel: "remediate",
  remediateResource: (args) => {
    if (args.type !== "kubernetes:core/v1:Secret") return undefined;
    const { props, secretPaths } = splitSecrets(rawProps(args.props));
    const violations = plainSecretData({
      type: args.type,
      name: args.name,
      props: props as Record<string, unknown>,
      secretPaths,
    });
    if (violations.length > 0) throw new PlainSecretDataError(violations.join("; "));
    return undefined;
  },
};

export interface PackConfig {
  environment?: string;
}

export const gatewayReplicasPolicy: StackValidationPolicy = {
  name: "production-gateway-replicas",
  description: "Production runs at least two gateway replicas.",
  enforcementLevel: mandatory,
  configSchema: {
    properties: { environment: { type: "string", enum: ["staging", "production"] } },
    required: ["environment"],
  },
  validateStack: (args, reportViolation) => {
    const { environment } = args.getConfig<PackConfig>();
    const inputs: PolicyInput[] = args.resources.map((r) => ({ type: r.type, name: r.name, props: r.props }));
    for (const v of gatewayReplicas(inputs, environment)) reportViolation(v);
  },
};

export const POLICIES: Policies = [...resourcePolicies, secretDataPolicy, gatewayReplicasPolicy];
