import { execFileSync, spawnSync } from "child_process";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import * as yaml from "js-yaml";
import { PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1/PrometheusRule";
import {
  ALERT_RULES_DIR,
  AlertRuleFile,
  alertNames,
  enabledAlertRules,
  loadAlertRules,
  parseAlertRuleFile,
  placeholderValues,
  renderPlaceholders,
} from "../../components/platform/alertRules";
import { KNOWN_METRICS, metricNames } from "../../components/platform/metricCatalog";
import { PlatformConfig } from "../../stacks/config";

/** The SLO the promtool tests in k8s-manifests/monitoring/tests/ are written for. */
const PROMTOOL_TEST_PARAMS = { p95SloMs: 250 };
const TESTS_DIR = path.join(ALERT_RULES_DIR, "tests");

const files = loadAlertRules(PROMTOOL_TEST_PARAMS);
const rules = (f: AlertRuleFile) => f.manifest.spec.groups.flatMap((g) => g.rules);
const allFeatures: PlatformConfig["features"] = {
  monitoring: true,
  mlflow: true,
  ray: true,
  argo: true,
  serving: true,
  simulator: true,
};

function promtool(): string {
  const found = spawnSync("promtool", ["--version"], { encoding: "utf8" });
  if (found.error || found.status !== 0) {
    throw new Error(
      "promtool is not installed: apt-get install -y prometheus (it provides /usr/bin/promtool)",
    );
  }
  return "promtool";
}

/** Writes the rule file's spec as a Prometheus rule file next to a copy of its promtool test, and runs it. */
function runPromtoolTest(file: AlertRuleFile): { status: number | null; output: string } {
  const base = file.file.replace(/\.yaml$/, "");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `promtool-${base}-`));
  try {
    fs.writeFileSync(path.join(dir, `${base}.rules.yaml`), yaml.dump(file.manifest.spec, { lineWidth: -1 }));
    fs.copyFileSync(path.join(TESTS_DIR, `${base}.test.yaml`), path.join(dir, `${base}.test.yaml`));
    const run = spawnSync(promtool(), ["test", "rules", `${base}.test.yaml`], { cwd: dir, encoding: "utf8" });
    return { status: run.status, output: `${run.stdout}${run.stderr}` };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe("alert rule manifests", () => {
  test("the issue's alerts all exist", () => {
    expect(files.flatMap((f) => alertNames(f.manifest)).sort()).toEqual(
      [
        "GpuLeaseEndingSoon",
        "GpuNodeNotReady",
        "InferenceErrorRatioHigh",
        "InferenceLatencyOverSlo",
        "MlflowAbsent",
        "MlflowDown",
        "PersistentVolumeAlmostFull",
        "PostgresAbsent",
        "PostgresDown",
        "RecommendationFallbackRatioHigh",
        "TrainingJobFailed",
        "TrainingWorkflowFailed",
        "VmLeaseEndingSoon",
      ].sort(),
    );
  });

  test.each(files.map((f) => [f.file, f] as const))(
    "%s validates against the PrometheusRule schema",
    (_file, f) => {
      expect(() => new PrometheusRule(f.manifest).validate()).not.toThrow();
    },
  );

  test.each(files.map((f) => [f.file, f] as const))(
    "%s: every alert has a severity, summary, description and a runbook anchor",
    (_file, f) => {
      for (const rule of rules(f)) {
        const labels = rule.labels as Record<string, string>;
        const annotations = rule.annotations as Record<string, string>;
        expect([rule.alert, labels.severity]).toEqual([
          rule.alert,
          expect.stringMatching(/^(warning|critical)$/),
        ]);
        expect(annotations.summary).toBeTruthy();
        expect(annotations.description).toBeTruthy();
        expect(annotations.runbook_url).toMatch(/^docs\/runbook\.md#[a-z0-9]+(-[a-z0-9]+)*$/);
      }
    },
  );

  test("rule and group names are unique across files", () => {
    const names = files.map((f) => f.manifest.metadata.name);
    const groups = files.flatMap((f) => f.manifest.spec.groups.map((g) => g.name));
    expect(new Set(names).size).toBe(names.length);
    expect(new Set(groups).size).toBe(groups.length);
  });

  test.each(files.map((f) => [f.file, f] as const))("%s queries only catalogued metrics", (_file, f) => {
    for (const rule of rules(f)) {
      const names = metricNames(String(rule.expr));
      expect(names.length).toBeGreaterThan(0);
      expect([rule.alert, names.filter((n) => !KNOWN_METRICS.has(n))]).toEqual([rule.alert, []]);
    }
  });

  test("the GPU node alert joins on the node-role label kube-state-metrics is allowed to expose", () => {
    const expr = String(rules(files.find((f) => f.file === "gpu-node.yaml")!)[0].expr);
    expect(expr).toContain('kube_node_labels{label_node_role="gpu"}');
    expect(expr).toContain("kube_node_status_condition");
  });
});

describe("placeholders", () => {
  test("the latency SLO comes from inferenceP95SloMs", () => {
    const inference = (ms: number) =>
      rules(loadAlertRules({ p95SloMs: ms }).find((f) => f.file === "inference.yaml")!).find(
        (r) => r.alert === "InferenceLatencyOverSlo",
      )!;
    expect(String(inference(250).expr)).toMatch(/> 0\.25$/);
    expect(String(inference(1500).expr)).toMatch(/> 1\.5$/);
    expect((inference(1500).annotations as Record<string, string>).summary).toContain("1500 ms SLO");
    for (const f of loadAlertRules({ p95SloMs: 1500 }))
      expect(JSON.stringify(f.manifest)).not.toMatch(/__[A-Z]/);
  });

  test("an unknown placeholder or a bad SLO is an error naming it", () => {
    expect(() =>
      renderPlaceholders("x > __P99_SLO__", placeholderValues({ p95SloMs: 200 }), "x.yaml"),
    ).toThrow("x.yaml: unknown placeholder __P99_SLO__");
    expect(() => placeholderValues({ p95SloMs: 0 })).toThrow(/inferenceP95SloMs = 0/);
    expect(renderPlaceholders('up{__name__="up"}', {})).toBe('up{__name__="up"}');
  });

  test("a file that is not a PrometheusRule, or names an unknown feature, is refused", () => {
    expect(() =>
      parseAlertRuleFile("cm.yaml", "apiVersion: v1\nkind: ConfigMap\n", PROMTOOL_TEST_PARAMS),
    ).toThrow("cm.yaml: expected a monitoring.coreos.com/v1 PrometheusRule");
    const unknownFeature = [
      "apiVersion: monitoring.coreos.com/v1",
      "kind: PrometheusRule",
      "metadata: {name: x, annotations: {ssept.io/requires-feature: kafka}}",
      "spec: {groups: [{name: g, rules: [{alert: A, expr: up == 0}]}]}",
    ].join("\n");
    expect(() => parseAlertRuleFile("x.yaml", unknownFeature, PROMTOOL_TEST_PARAMS)).toThrow(
      /x\.yaml: ssept\.io\/requires-feature = kafka/,
    );
  });

  test("MLflow and serving rules are left out when their feature is off", () => {
    const names = (features: PlatformConfig["features"]) =>
      enabledAlertRules(files, features).map((f) => f.file);
    expect(names(allFeatures)).toEqual(files.map((f) => f.file));
    const without = names({ ...allFeatures, mlflow: false, serving: false });
    expect(without).not.toContain("mlflow.yaml");
    expect(without).not.toContain("inference.yaml");
    expect(without).toEqual(
      expect.arrayContaining(["gpu-lease.yaml", "gpu-node.yaml", "storage.yaml", "training.yaml"]),
    );
  });
});

describe("promtool test rules", () => {
  test("every rule file has a promtool test, and every test file a rule file", () => {
    const ruleBases = files.map((f) => f.file.replace(/\.yaml$/, "")).sort();
    const testBases = fs
      .readdirSync(TESTS_DIR)
      .filter((f) => f.endsWith(".test.yaml"))
      .map((f) => f.replace(/\.test\.yaml$/, ""))
      .sort();
    expect(testBases).toEqual(ruleBases);
  });

  test.each(files.map((f) => [f.file, f] as const))(
    "%s: each alert is expected to fire in its promtool test",
    (_file, f) => {
      const base = f.file.replace(/\.yaml$/, "");
      const doc = yaml.load(fs.readFileSync(path.join(TESTS_DIR, `${base}.test.yaml`), "utf8")) as {
        rule_files: string[];
        tests: { alert_rule_test?: { alertname: string; exp_alerts: unknown[] }[] }[];
      };
      expect(doc.rule_files).toEqual([`${base}.rules.yaml`]);
      const firing = new Set(
        doc.tests.flatMap((t) =>
          (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length > 0).map((a) => a.alertname),
        ),
      );
      const quiet = new Set(
        doc.tests.flatMap((t) =>
          (t.alert_rule_test ?? []).filter((a) => a.exp_alerts.length === 0).map((a) => a.alertname),
        ),
      );
      for (const alert of alertNames(f.manifest)) {
        expect([alert, firing.has(alert), quiet.has(alert)]).toEqual([alert, true, true]);
      }
    },
  );

  test.each(files.map((f) => [f.file, f] as const))("%s passes promtool check and test", (_file, f) => {
    const base = f.file.replace(/\.yaml$/, "");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), `promtool-check-${base}-`));
    try {
      const ruleFile = path.join(dir, `${base}.rules.yaml`);
      fs.writeFileSync(ruleFile, yaml.dump(f.manifest.spec, { lineWidth: -1 }));
      execFileSync(promtool(), ["check", "rules", ruleFile], { encoding: "utf8" });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    const run = runPromtoolTest(f);
    expect([run.status, run.output]).toEqual([0, expect.stringContaining("SUCCESS")]);
  });

  test("the latency test fails when the SLO is raised above the observed p95 (the threshold is real)", () => {
    const relaxed = loadAlertRules({ p95SloMs: 500 }).find((f) => f.file === "inference.yaml")!;
    const run = runPromtoolTest(relaxed);
    expect(run.status).not.toBe(0);
    expect(run.output).toContain("alertname: InferenceLatencyOverSlo");
  });
});
