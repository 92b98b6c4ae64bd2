import { PlanModel } from "./planModel";

/** diagram.mmd: components as nodes, an edge where one component's resources use another's. */
export function planDiagram(plan: PlanModel): string {
  const components = [...new Set(plan.resources.map((r) => r.component))]
    .filter((c) => c !== "(stack)")
    .sort();
  const id = new Map(components.map((c, i) => [c, `c${i}`]));
  const lines = ["flowchart LR"];
  const byArea = new Map<string, string[]>();
  for (const c of components) {
    const area = c.split(":")[0];
    (byArea.get(area) ?? byArea.set(area, []).get(area)!).push(c);
  }
  for (const [area, members] of [...byArea.entries()].sort()) {
    lines.push(`  subgraph ${area}`);
    for (const c of members) lines.push(`    ${id.get(c)}["${c.replace(/"/g, "'")}"]`);
    lines.push("  end");
  }
  for (const [from, to] of plan.componentEdges) {
    if (id.has(from) && id.has(to)) lines.push(`  ${id.get(to)} --> ${id.get(from)}`);
  }
  return lines.join("\n") + "\n";
}
