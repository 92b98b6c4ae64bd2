import * as pulumi from "@pulumi/pulumi";
import { LoadOptions, readStackConfig } from "./config";
import { buildEstate } from "./estate";
import { exportOutputs } from "./outputs";

/** The whole program: validated config in, the outputs contract out. */
export function program(options: LoadOptions = {}): Record<string, pulumi.Output<unknown>> {
  const config = readStackConfig(options);
  return exportOutputs(buildEstate(config));
}
