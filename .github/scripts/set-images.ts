/**
 * Points a stack's image keys at the images CI just pushed, in the runner's copy of
 * Pulumi.<stack>.yaml, before `pulumi up`:
 *
 *   npx ts-node --transpile-only .github/scripts/set-images.ts <stack> <registry> <tag> [--stack-file <path>]
 *
 * e.g. `... set-images.ts staging ghcr.io/my-org 3f0b3ef...` sets trainerImage to
 * ghcr.io/my-org/trainer:3f0b3ef... and likewise mlflowImage, gatewayImage and simulatorImage.
 */
import * as path from "path";
import { updateStackFile } from "../../tools/promotion/stackFile";
import { imageRef, IMAGES } from "./images";

export function setImages(stackFile: string, registry: string, tag: string): Record<string, string> {
  const changes = Object.fromEntries(IMAGES.map((i) => [i.configKey, imageRef(registry, i.name, tag)]));
  updateStackFile(stackFile, changes);
  return changes;
}

if (require.main === module) {
  const [stack, registry, tag, flag, file] = process.argv.slice(2);
  if (!stack || !registry || !tag || (flag !== undefined && (flag !== "--stack-file" || !file))) {
    console.error("usage: set-images.ts <stack> <registry> <tag> [--stack-file <path>]");
    process.exit(2);
  }
  try {
    const target = file ?? path.resolve(__dirname, "..", "..", `Pulumi.${stack}.yaml`);
    for (const [k, v] of Object.entries(setImages(target, registry, tag))) console.log(`${k}: ${v}`);
  } catch (err) {
    console.error(`set-images: ${(err as Error).message}`);
    process.exit(1);
  }
}
