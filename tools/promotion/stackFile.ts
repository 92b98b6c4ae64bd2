import * as fs from "fs";
import { PROJECT } from "../../stacks/config";

/**
 * Sets or removes top-level keys of a Pulumi.<stack>.yaml in place, keeping its comments and the
 * order of the other lines, so that the committed decision is a one- or two-line diff.
 */
export function editStackFile(text: string, changes: Record<string, string | null>): string {
  const lines = text.split("\n");
  const configAt = lines.findIndex((l) => /^config:\s*$/.test(l));
  if (configAt < 0) throw new Error("stack file has no top-level `config:` block");
  for (const [key, value] of Object.entries(changes)) {
    if (value !== null && !/^[\w./:@-]+$/.test(value))
      throw new Error(`refusing to write ${key}=${JSON.stringify(value)}: not a plain scalar`);
    const prefix = `  ${PROJECT}:${key}:`;
    const at = lines.findIndex((l) => l.startsWith(prefix));
    if (at >= 0 && /^\s+-/.test(lines[at + 1] ?? ""))
      throw new Error(`${PROJECT}:${key} is a list in the stack file; expected a scalar`);
    if (value === null) {
      if (at >= 0) lines.splice(at, 1);
      continue;
    }
    const line = `${prefix} "${value}"`;
    if (at >= 0) {
      lines[at] = line;
      continue;
    }
    // New key: at the end of the config block (the last indented line after `config:`).
    let end = configAt + 1;
    while (end < lines.length && (/^\s+\S/.test(lines[end]) || lines[end] === "")) end++;
    while (end > configAt + 1 && lines[end - 1] === "") end--;
    lines.splice(end, 0, line);
  }
  return lines.join("\n");
}

export function updateStackFile(file: string, changes: Record<string, string | null>): boolean {
  const before = fs.readFileSync(file, "utf8");
  const after = editStackFile(before, changes);
  if (after === before) return false;
  fs.writeFileSync(file, after);
  return true;
}
