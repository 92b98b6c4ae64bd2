import { program } from "./stacks/program";

// Config is validated before any resource is declared; the exports are the outputs contract
// (stacks/outputs.ts) that CI reads with `pulumi stack output --json`.
export = program();
