import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import * as k8s from "@pulumi/kubernetes";
import * as pulumi from "@pulumi/pulumi";

export const CHARTS_DIR = path.resolve(__dirname, "..", "..", "charts");

/** `charts/<dir>/chart.yaml`: where a third-party chart comes from, pinned. */
export interface ChartPin {
  repository: string;
  chart: string;
  version: string;
}

export type Values = { [key: string]: unknown };

export function readChartPin(dir: string): ChartPin {
  const file = path.join(CHARTS_DIR, dir, "chart.yaml");
  const pin = yaml.load(fs.readFileSync(file, "utf8")) as Partial<ChartPin>;
  for (const field of ["repository", "chart", "version"] as const) {
    if (typeof pin?.[field] !== "string" || pin[field] === "") {
      throw new Error(`${file}: ${field} must be a non-empty string`);
    }
  }
  if (!/^\d+\.\d+\.\d+/.test(pin.version!))
    throw new Error(`${file}: version ${pin.version} is not pinned (x.y.z)`);
  return pin as ChartPin;
}

/**
 * Base values, then `values-<environment>.yaml` when present, then the computed values (which may
 * hold outputs such as secrets), merged deeply: objects merge, everything else replaces.
 */
export function chartValues(dir: string, environment: string, computed: Values = {}): Values {
  const read = (file: string): Values => {
    const full = path.join(CHARTS_DIR, dir, file);
    return fs.existsSync(full) ? ((yaml.load(fs.readFileSync(full, "utf8")) as Values) ?? {}) : {};
  };
  return mergeValues(mergeValues(read("values.yaml"), read(`values-${environment}.yaml`)), computed);
}

export function mergeValues(base: Values, override: Values): Values {
  const result: Values = { ...base };
  for (const [k, v] of Object.entries(override)) {
    const b = result[k];
    result[k] = isPlainObject(b) && isPlainObject(v) ? mergeValues(b, v) : v;
  }
  return result;
}

function isPlainObject(v: unknown): v is Values {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !pulumi.Output.isInstance(v);
}

export interface ChartReleaseArgs {
  /** Folder under charts/. */
  chartDir: string;
  namespace: pulumi.Input<string>;
  environment: string;
  computedValues?: Values;
  provider: k8s.Provider;
  parent: pulumi.Resource;
  dependsOn?: pulumi.Input<pulumi.Resource>[];
}

/**
 * A pinned third-party chart as a Helm release. A release (not `helm.v4.Chart`) keeps the chart's
 * CRD ordering and hooks in Helm's hands, and its chart, version and values show in a preview diff.
 */
export function chartRelease(name: string, args: ChartReleaseArgs): k8s.helm.v3.Release {
  const pin = readChartPin(args.chartDir);
  return new k8s.helm.v3.Release(
    name,
    {
      name: args.chartDir,
      chart: pin.chart,
      version: pin.version,
      repositoryOpts: { repo: pin.repository },
      namespace: args.namespace,
      createNamespace: false,
      values: chartValues(args.chartDir, args.environment, args.computedValues),
      atomic: true,
      cleanupOnFail: true,
      timeout: 900,
      maxHistory: 5,
    },
    { parent: args.parent, provider: args.provider, dependsOn: args.dependsOn },
  );
}
