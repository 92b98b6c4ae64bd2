import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "bin/", "out/", "trainer-image/", "**/*.js", "**/*.mjs"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_" }],
      "no-restricted-syntax": [
        "error",
        {
          selector:
            "MemberExpression[object.object.name='pulumi'][object.property.name='runtime'][property.name='getStack']",
          message: "Components must not branch on the stack name; put the difference in config.",
        },
      ],
    },
  },
);
