import * as fs from "fs";
import * as path from "path";
import { PlannedResource } from "./planModel";
import { table } from "./planMarkdown";

export class PlanDirError extends Error {}

export function readPlannedResources(dir: string): PlannedResource[] {
  const file = path.join(dir, "resources.json");
  if (!fs.existsSync(file)) throw new PlanDirError(`not a plan directory (no resources.json): ${dir}`);
  return JSON.parse(fs.readFileSync(file, "utf8")) as PlannedResource[];
}

interface FieldChange {
  path: string;
  before: unknown;
  after: unknown;
}

/**
 * The Markdown a PR comment shows when `pulumi preview` cannot run: resources added, removed and
 * changed, with every changed field (for Kubernetes objects, the manifest fields). Both sides were
 * scrubbed when their plans were written, so no secret can reach the diff.
 */
export function planDiff(before: PlannedResource[], after: PlannedResource[], title: string): string {
  const old = new Map(before.map((r) => [r.urn, r]));
  const now = new Map(after.map((r) => [r.urn, r]));
  const added = after.filter((r) => !old.has(r.urn));
  const removed = before.filter((r) => !now.has(r.urn));
  const changed = after
    .filter((r) => old.has(r.urn))
    .map((r) => ({ resource: r, changes: fieldChanges(old.get(r.urn)!.inputs, r.inputs, "") }))
    .filter((c) => c.changes.length > 0);

  const out = [`### Offline plan diff: ${title}`, ""];
  out.push(`**${added.length} to add, ${changed.length} to change, ${removed.length} to remove.**`, "");
  if (added.length === 0 && changed.length === 0 && removed.length === 0) {
    out.push("No changes.");
    return out.join("\n") + "\n";
  }
  const list = (rows: PlannedResource[]) => rows.map((r) => `- \`${r.type}\` **${r.name}** (${r.component})`);
  if (added.length) out.push("#### Added", "", ...list(added), "");
  if (removed.length) out.push("#### Removed", "", ...list(removed), "");
  if (changed.length) {
    out.push("#### Changed", "");
    for (const { resource, changes } of changed) {
      const what = resource.type.startsWith("kubernetes:") ? "manifest fields" : "inputs";
      out.push(`\`${resource.type}\` **${resource.name}**: ${changes.length} ${what}`, "");
      out.push(
        table(
          ["Field", "Before", "After"],
          changes.map((c) => [`\`${c.path}\``, show(c.before), show(c.after)]),
        ),
      );
      out.push("");
    }
  }
  return out.join("\n") + "\n";
}

export function fieldChanges(a: unknown, b: unknown, at: string): FieldChange[] {
  if (isObject(a) && isObject(b)) {
    const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
    return keys.flatMap((k) => fieldChanges(a[k], b[k], at ? `${at}.${k}` : k));
  }
  if (Array.isArray(a) && Array.isArray(b) && a.length === b.length) {
    return a.flatMap((v, i) => fieldChanges(v, b[i], `${at}[${i}]`));
  }
  return JSON.stringify(a) === JSON.stringify(b) ? [] : [{ path: at || "(all)", before: a, after: b }];
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

function show(v: unknown): string {
  if (v === undefined) return "_(none)_";
  const text = JSON.stringify(v);
  return `\`${text.length > 120 ? text.slice(0, 117) + "..." : text}\``;
}
