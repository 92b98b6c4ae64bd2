import { z } from "zod";

/** Every problem with a service's environment, one line per variable. */
export class EnvConfigError extends Error {
  constructor(
    readonly service: string,
    readonly problems: string[],
  ) {
    super(`${service}: invalid environment:\n${problems.map((p) => `  - ${p}`).join("\n")}`);
    this.name = "EnvConfigError";
  }
}

/** Empty strings count as unset, so `FOO=` in a manifest falls back to the default. */
function present(env: NodeJS.ProcessEnv): Record<string, string> {
  return Object.fromEntries(
    Object.entries(env).filter(
      (entry): entry is [string, string] => entry[1] !== undefined && entry[1] !== "",
    ),
  );
}

export function parseEnv<S extends z.ZodTypeAny>(
  service: string,
  schema: S,
  env: NodeJS.ProcessEnv,
): z.output<S> {
  const values = present(env);
  const result = schema.safeParse(values);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const name = issue.path.join(".") || "(environment)";
    const value = typeof issue.path[0] === "string" ? values[issue.path[0]] : undefined;
    const shown =
      value === undefined
        ? "unset"
        : /SECRET|PASSWORD|KEY_ID/.test(name)
          ? "[secret]"
          : JSON.stringify(value);
    const message = value === undefined && issue.code === "invalid_type" ? "required" : issue.message;
    return `${name} (${shown}): ${message}`;
  });
  throw new EnvConfigError(service, problems);
}

export const intFrom = (min: number, max: number) => z.coerce.number().int().min(min).max(max);

export const booleanFlag = z.enum(["true", "false"]).transform((v) => v === "true");

export const httpUrl = z
  .string()
  .url()
  .refine((u) => /^https?:\/\//.test(u), "must be an http:// or https:// URL")
  .transform((u) => u.replace(/\/+$/, ""));
