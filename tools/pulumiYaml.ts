import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { KEYS } from "../stacks/configSchema";
import { PROJECT } from "../stacks/config";

/** The `config:` block of Pulumi.yaml, derived from the schema so the two cannot drift. */
export function configDeclarations(): Record<string, Record<string, unknown>> {
  return Object.fromEntries(
    Object.entries(KEYS).map(([k, spec]) => [
      k,
      {
        type: spec.type,
        ...(spec.type === "array" ? { items: { type: "string" } } : {}),
        description: spec.description,
        ...(spec.secret ? { secret: true } : {}),
      },
    ]),
  );
}

export function renderPulumiYaml(): string {
  const doc = {
    name: PROJECT,
    runtime: { name: "nodejs", options: { typescript: true, packagemanager: "npm" } },
    description: "SSE-PT recommender platform on Chameleon Cloud: one stack per environment",

    config: configDeclarations(),
  };
  return (
    "# Generated from stacks/configSchema.ts by `npm run sync:pulumi-yaml`; edit the schema, not this block.\n" +
    yaml.dump(doc, { lineWidth: 120, noRefs: true })
  );
}

if (require.main === module) {
  const target = path.join(__dirname, "..", "Pulumi.yaml");
  fs.writeFileSync(target, renderPulumiYaml());
  console.log(`wrote ${target}`);
}
