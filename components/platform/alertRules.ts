import * as fs from "fs";
import * as path from "path";
import * as yaml from "js-yaml";
import { Feature, FEATURES, FeatureSwitches } from "../contracts";

/** PrometheusRule manifests, one file each; their promtool tests live in `tests/` below. */
export const ALERT_RULES_DIR = path.resolve(__dirname, "..", "..", "k8s-manifests", "monitoring");

/** Annotation naming the feature switch a rule file belongs to, e.g. `mlflow`: absent() would fire without it. */
export const REQUIRES_FEATURE_ANNOTATION = "ssept.io/requires-feature";

export type { Feature };

export interface AlertRuleParameters {
  /** config inferenceP95SloMs. */
  p95SloMs: number;
}

export interface PrometheusRuleManifest {
  apiVersion: "monitoring.coreos.com/v1";
  kind: "PrometheusRule";
  metadata: { name: string; labels?: Record<string, string>; annotations?: Record<string, string> };
  spec: { groups: { name: string; rules: PrometheusRuleEntry[] }[] };
}

export interface PrometheusRuleEntry {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}

export interface AlertRuleFile {
  /** File name under ALERT_RULES_DIR, e.g. `inference.yaml`. */
  file: string;
  manifest: PrometheusRuleManifest;
  requiresFeature?: Feature;
}

const PLACEHOLDER = /__([A-Z][A-Z0-9_]*)__/g;

/** The values the rule files' placeholders take. */
export function placeholderValues(params: AlertRuleParameters): Record<string, string> {
  if (!Number.isFinite(params.p95SloMs) || params.p95SloMs <= 0) {
    throw new Error(`inferenceP95SloMs = ${params.p95SloMs}: expected a positive number of milliseconds`);
  }
  return {
    P95_SLO_MS: String(params.p95SloMs),
    P95_SLO_SECONDS: String(params.p95SloMs / 1000),
  };
}

/** Replaces every `__NAME__` placeholder; a placeholder without a value is an error, not a silent leftover. */
export function renderPlaceholders(text: string, values: Record<string, string>, where = "text"): string {
  return text.replace(PLACEHOLDER, (_match, name: string) => {
    if (!(name in values)) throw new Error(`${where}: unknown placeholder __${name}__`);
    return values[name];
  });
}

/** Reads, renders and checks the shape of one rule file. */
export function parseAlertRuleFile(file: string, text: string, params: AlertRuleParameters): AlertRuleFile {
  const doc = yaml.load(renderPlaceholders(text, placeholderValues(params), file)) as PrometheusRuleManifest;
  if (doc?.apiVersion !== "monitoring.coreos.com/v1" || doc.kind !== "PrometheusRule") {
    throw new Error(`${file}: expected a monitoring.coreos.com/v1 PrometheusRule`);
  }
  if (!doc.metadata?.name) throw new Error(`${file}: metadata.name is missing`);
  if (!Array.isArray(doc.spec?.groups) || doc.spec.groups.length === 0) {
    throw new Error(`${file}: spec.groups must list at least one group`);
  }
  const feature = doc.metadata.annotations?.[REQUIRES_FEATURE_ANNOTATION];
  if (feature !== undefined && !FEATURES.includes(feature as Feature)) {
    throw new Error(
      `${file}: ${REQUIRES_FEATURE_ANNOTATION} = ${feature}: expected one of ${FEATURES.join(", ")}`,
    );
  }
  return { file, manifest: doc, requiresFeature: feature as Feature | undefined };
}

/** Every rule file of the directory, rendered, in file-name order. */
export function loadAlertRules(params: AlertRuleParameters, dir = ALERT_RULES_DIR): AlertRuleFile[] {
  return fs
    .readdirSync(dir)
    .filter((f) => f.endsWith(".yaml"))
    .sort()
    .map((f) => parseAlertRuleFile(f, fs.readFileSync(path.join(dir, f), "utf8"), params));
}

/** The rule files whose feature is switched on (or that need none). */
export function enabledAlertRules(
  files: readonly AlertRuleFile[],
  features: FeatureSwitches,
): AlertRuleFile[] {
  return files.filter((f) => f.requiresFeature === undefined || features[f.requiresFeature]);
}

/** Alert names of a rule file, in order. */
export function alertNames(manifest: PrometheusRuleManifest): string[] {
  return manifest.spec.groups.flatMap((g) =>
    g.rules.map((r) => r.alert).filter((a): a is string => a !== undefined),
  );
}
