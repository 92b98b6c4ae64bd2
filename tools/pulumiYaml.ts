import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { ConfigKey, DEFAULTS, KEYS } from "../stacks/configSchema";
import { ALWAYS_REQUIRED, PROJECT } from "../stacks/config";

/**
 * The Pulumi CLI refuses to run a stack that omits a declared project key with no `default`
 * ("Stack 'staging' is missing configuration values ...", `mergeConfig` in
 * sdk/go/common/workspace/config.go), and a declared `secret: true` key with a plain default fails
 * its "must be encrypted" check. So Pulumi.yaml declares exactly:
 *   - keys the program defaults, with that default;
 *   - keys every stack must set, without one.
 * Keys needed only in some modes or at some sites (credentials, secrets, existing-cluster keys,
 * domain...) stay undeclared: the program requires them when they apply, naming the key. They are
 * listed in a comment so that Pulumi.yaml still documents every key.
 */
export function declaredKeys(): ConfigKey[] {
  return (Object.keys(KEYS) as ConfigKey[]).filter(
    (k) => DEFAULTS[k] !== undefined || ALWAYS_REQUIRED.includes(k),
  );
}

export function configDeclarations(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    declaredKeys().map((k) => {
      const spec = KEYS[k];
      if (spec.secret) throw new Error(`${k} is secret and cannot be declared with a default or required`);
      return [
        k,
        {
          type: spec.type,
          ...(spec.type === "array" ? { items: { type: "string" } } : {}),
          description: spec.description,
          ...(DEFAULTS[k] !== undefined ? { default: DEFAULTS[k] } : {}),
        },
      ];
    }),
  );
}

function undeclaredComment(): string {
  const declared = new Set<string>(declaredKeys());
  const lines = (Object.keys(KEYS) as ConfigKey[])
    .filter((k) => !declared.has(k))
    .map((k) => {
      const spec = KEYS[k];
      const kind = spec.secret ? `${spec.type}, secret: set it with --secret` : spec.type;
      return `#   ${k} (${kind}): ${spec.description}`;
    });
  return [
    "# Also read by the program, and not declared above because the Pulumi CLI demands every declared key",
    "# without a default: each is needed only in some modes or at some sites, and the program names it",
    "# when it is missing (stacks/config.ts).",
    ...lines,
  ].join("\n");
}

export function renderPulumiYaml(): string {
  const doc = {
    name: PROJECT,
    runtime: { name: "nodejs", options: { typescript: true, packagemanager: "npm" } },
    description: "SSE-PT recommender platform on Chameleon Cloud: one stack per environment",

    config: configDeclarations(),
  };
  return (
    "# Generated from stacks/configSchema.ts by `npm run sync:pulumi-yaml`; edit the schema, not this file.\n" +
    yaml.dump(doc, { lineWidth: 120, noRefs: true }) +
    undeclaredComment() +
    "\n"
  );
}

if (require.main === module) {
  const target = path.join(__dirname, "..", "Pulumi.yaml");
  fs.writeFileSync(target, renderPulumiYaml());
  console.log(`wrote ${target}`);
}
